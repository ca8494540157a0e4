"""Errors raised while locating or reading task data."""


class DataUnavailableError(RuntimeError):
    """The requested data source cannot provide the task's data here (says what was tried and how to fix it)."""


class DataFormatError(ValueError):
    """A data file does not have the format its task expects (says file and line)."""
