"""StandInEmbedder: an offline, deterministic embedder for tests (a test double).

It hashes the content words of a text (the stand-in model's words: lower-cased, stopwords
removed, crudely stemmed) into a fixed number of dimensions, with a sign per word, and scales
the vector to length 1. The cosine of two such vectors is about the number of content words
the texts share divided by the geometric mean of their word counts, so texts about the same
things are near each other, on any machine, with no model and no network. It measures word
overlap, not meaning: use it to test castlm's machinery, never to judge retrieval quality.
"""

from __future__ import annotations

import math
import threading
import zlib
from collections.abc import Sequence
from typing import Any

from ._standin_text import content_words

DIMENSIONS = 256
_DIGITS = 6  # short literals in shipped pools; the rounding is part of the definition


class StandInEmbedder:
    """Hashed bag-of-words vectors of ``dimensions`` floats (see the module docstring)."""

    def __init__(self, dimensions: int = DIMENSIONS) -> None:
        self.dimensions = dimensions
        self.calls = 0  # embedding requests served, for tests that count them
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return "standin" if self.dimensions == DIMENSIONS else f"standin-{self.dimensions}"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        with self._lock:
            self.calls += 1
        return [self.vector(text) for text in texts]

    async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
        return self.embed(texts)

    def vector(self, text: str) -> list[float]:
        values = [0.0] * self.dimensions
        for word in sorted(content_words(text)):
            digest = zlib.crc32(word.encode("utf-8"))
            sign = 1.0 if digest & 1 else -1.0
            values[(digest >> 1) % self.dimensions] += sign
        norm = math.sqrt(sum(v * v for v in values))
        if norm == 0.0:
            return values
        return [round(v / norm, _DIGITS) for v in values]

    def __deepcopy__(self, memo: dict[int, Any]) -> StandInEmbedder:
        return self  # stateless but for the counter: copies of a program share it

    def __getstate__(self) -> dict[str, Any]:
        return {"dimensions": self.dimensions, "calls": self.calls}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.dimensions, self.calls = state["dimensions"], state["calls"]
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"StandInEmbedder(dimensions={self.dimensions})"
