"""Audio input: folder indexing, decoding, labels, the synthetic set, the DataModule."""
