"""Retrieval: passages, BM25 and embedding retrievers, the Retrieve module."""
