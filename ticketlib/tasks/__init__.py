"""Tasks: the task registry, their data (ticketlib.tasks.data), models and pinned offline assets,
the Recipe (a run's parameters) and the inputs a run builds from it."""
