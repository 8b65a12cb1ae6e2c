"""The check every embedder runs on what its backend returned."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..base._errors import ConfigurationError
from ..base._narrow import is_array

if TYPE_CHECKING:
    from ._embed import Embedder


def check_vectors(embedder: Embedder, texts: Sequence[str], vectors: object) -> list[list[float]]:
    """``vectors`` if it is one list of floats per text, all of one length; else an error."""
    if not is_array(vectors) or len(vectors) != len(texts):
        count = len(vectors) if is_array(vectors) else type(vectors).__name__
        raise ConfigurationError(
            f"embedder {embedder.name!r} returned {count} vectors for {len(texts)} texts"
        )
    lengths = {len(v) for v in vectors if is_array(v)}
    if len(lengths) > 1 or any(not is_array(v) for v in vectors):
        raise ConfigurationError(f"embedder {embedder.name!r} returned vectors of mixed shapes")
    return vectors
