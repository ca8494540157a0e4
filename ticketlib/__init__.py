"""ticketlib: exact pruning, rewinding, masked fine-tuning and IMP for BERT-family models."""

__version__ = "0.3.0"
