"""Search by example: the nearest rows of an embedding set to a query (index.py: FAISS, exact or approximate)."""
