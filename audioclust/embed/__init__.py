"""Embedding: Lightning predict over a data module, sharded exactly-once outputs, every encoder."""
