"""The command line (`python -m ticketlib`, `ticketlib`): one subcommand per flow."""
