"""Task data: sources (hub, GLUE folder, offline registry assets), subsets, tokenization with a
feature cache, and evaluation. Start at `load_task_data`."""

from ticketlib.tasks.data.encode import mask_tokens
from ticketlib.tasks.data.errors import DataFormatError, DataUnavailableError
from ticketlib.tasks.data.loading import TaskData, load_raw, load_task_data

__all__ = ["TaskData", "load_task_data", "load_raw", "mask_tokens", "DataUnavailableError", "DataFormatError"]
