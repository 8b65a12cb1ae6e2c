"""EmbeddingsRetriever: passages ranked by cosine similarity of embeddings.

It reuses castlm's embedders (``castlm.Embedder``: an OpenAI-compatible ``/embeddings``
endpoint, a local sentence-transformers model, or the offline stand-in). The corpus is embedded
on the first query (one batch of requests, then kept in memory), or never, when its vectors are
given; every query costs one embedding of the query.
"""

from __future__ import annotations

import heapq
import math
import operator
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from ..base._errors import ConfigurationError
from ..embed._embed import Embedder, make_embedder
from ..embed._vectors import check_vectors
from ._retrieve import CorpusItem, Passage, as_passage


class EmbeddingsRetriever:
    """The ``k`` passages whose embeddings are nearest the query's (cosine similarity).

    ``embedder``: an :class:`castlm.Embedder`, or a name for :func:`castlm.make_embedder`
    (``"openai/text-embedding-3-small"``, ``"local/all-MiniLM-L6-v2"``, ``"standin"``).
    ``vectors``: precomputed embeddings of the corpus, one per passage, from the same
    embedder. A passage is embedded as ``str(passage)`` (its title and text).
    """

    def __init__(
        self,
        corpus: Iterable[CorpusItem],
        embedder: Embedder | str,
        *,
        vectors: Sequence[Sequence[float]] | None = None,
    ) -> None:
        self.passages = [as_passage(item, i) for i, item in enumerate(corpus)]
        self.embedder = make_embedder(embedder) if isinstance(embedder, str) else embedder
        self._lock = threading.Lock()
        self._vectors: list[list[float]] | None = None
        self._norms: list[float] = []
        if vectors is not None:
            self._index([list(map(float, v)) for v in vectors])

    def retrieve(self, query: str, k: int = 3) -> list[Passage]:
        if self._vectors is None:
            self._index(self._embed(self.passages_text()))
        return self._nearest(self._embed([query])[0], k)

    async def aretrieve(self, query: str, k: int = 3) -> list[Passage]:
        if self._vectors is None:
            corpus = await self.embedder.aembed(self.passages_text())
            self._index(check_vectors(self.embedder, self.passages_text(), corpus))
        query_vector = check_vectors(self.embedder, [query], await self.embedder.aembed([query]))
        return self._nearest(query_vector[0], k)

    def passages_text(self) -> list[str]:
        return [str(p) for p in self.passages]

    def _embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return check_vectors(self.embedder, texts, self.embedder.embed(texts))

    def _index(self, vectors: list[list[float]]) -> None:
        if len(vectors) != len(self.passages):
            raise ConfigurationError(
                f"EmbeddingsRetriever: {len(vectors)} vectors for {len(self.passages)} passages"
            )
        with self._lock:
            if self._vectors is None:
                self._norms = [math.sqrt(sum(x * x for x in v)) for v in vectors]
                self._vectors = vectors

    def _nearest(self, query: Sequence[float], k: int) -> list[Passage]:
        vectors = self._vectors or []
        if vectors and len(query) != len(vectors[0]):
            raise ConfigurationError(
                f"the query embedding has {len(query)} dimensions, the corpus's have "
                f"{len(vectors[0])}: the corpus vectors come from another embedder"
            )
        size = math.sqrt(sum(x * x for x in query))
        scores = [
            sum(map(operator.mul, query, v)) / (size * n) if size and n else 0.0
            for v, n in zip(vectors, self._norms, strict=True)
        ]
        best = heapq.nsmallest(k, range(len(scores)), key=lambda i: (-scores[i], i))
        return [_with_score(self.passages[i], scores[i]) for i in best]

    def __deepcopy__(self, memo: dict[int, Any]) -> EmbeddingsRetriever:
        return self  # the corpus and its vectors are shared by copies of a program

    def __repr__(self) -> str:
        return f"EmbeddingsRetriever({len(self.passages)} passages, {self.embedder.name!r})"


def _with_score(passage: Passage, score: float) -> Passage:
    return Passage(passage.text, passage.title, passage.id, score, passage.metadata)
