"""Core primitives: the prunable set, masks and their files, the Masker, rewinding, fine-tuning,
IMP, structured pruning and shrink, Wanda, pooling heads. Imports only ticketlib.foundations."""
