"""Foundations: what knows no pruning and no task (settings, file names, atomic I/O, the method
registry, the paper's numbers, statistics, metrics, batching). Imports nothing above it."""
