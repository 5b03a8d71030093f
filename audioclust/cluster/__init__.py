"""Clustering of embeddings: FAISS k-means, scores, plots."""
