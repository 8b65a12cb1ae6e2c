"""A local embedder: a sentence-transformers model, loaded on first use.

sentence-transformers (and its torch dependency) is optional: it is imported only when an
embedder named ``local/<model>`` embeds its first text, and a missing install is an error
that says what to install.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
from collections.abc import Sequence
from typing import Any

from ..base._errors import ConfigurationError
from ._vectors import check_vectors


class SentenceTransformerEmbedder:
    """Embeds with ``sentence_transformers.SentenceTransformer(model)``, vectors normalized.

    The model loads (and, the first time, downloads) on the first call, once per embedder.
    """

    def __init__(self, model: str, *, device: str | None = None) -> None:
        self.model = model
        self.device = device
        self._loaded: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"local/{self.model}"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        encoded = self._model().encode(list(texts), normalize_embeddings=True)
        vectors = [[float(x) for x in row] for row in encoded]
        return check_vectors(self, texts, vectors)

    async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
        # The model computes on this machine: a worker thread keeps the event loop free.
        return await asyncio.to_thread(self.embed, texts)

    def __deepcopy__(self, memo: dict[int, Any]) -> SentenceTransformerEmbedder:
        return self  # the loaded model is large and read-only: copies share it

    def __getstate__(self) -> dict[str, Any]:
        return {"model": self.model, "device": self.device}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["model"], device=state["device"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder(model={self.model!r})"

    def _model(self) -> Any:
        with self._lock:
            if self._loaded is None:
                try:
                    # By name: an optional dependency that type checkers need not know.
                    library = importlib.import_module("sentence_transformers")
                except ImportError as exc:
                    raise ConfigurationError(
                        f"the embedder {self.name!r} needs sentence-transformers: "
                        "pip install sentence-transformers"
                    ) from exc
                self._loaded = library.SentenceTransformer(self.model, device=self.device)
            return self._loaded
