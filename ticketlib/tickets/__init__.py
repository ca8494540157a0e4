"""Tickets: a ticket (a mask and where it came from), its folder, a run's result rows, and
exports (a Hugging Face folder, a sentence-transformers folder)."""
