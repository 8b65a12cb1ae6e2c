"""Embedders for nearest-neighbour demos and retrieval: the protocol, the OpenAI-compatible
client and the local sentence-transformers one.
"""
