"""Embedders: texts to vectors, for choosing demos by similarity at inference time.

An embedder is anything with a ``name`` and ``embed`` / ``aembed`` (see :class:`Embedder`).
Names, as given to :func:`make_embedder`, to the ``knn`` optimizer and in ``$CASTLM_EMBEDDER``:

* ``"standin"`` (or ``"standin-<dimensions>"``): a deterministic, offline test double
  (``castlm.testing.StandInEmbedder``);
* ``"local/<model>"``: a local sentence-transformers model (``pip install sentence-transformers``);
* ``"openai/<model>"`` or a bare ``"<model>"``: an OpenAI-compatible ``/embeddings`` endpoint
  (:class:`castlm.OpenAIEmbedder`), at ``base_url`` / ``$CASTLM_BASE_URL`` /
  ``$OPENAI_BASE_URL`` / OpenAI.

Backends are imported on demand, so a vendored runtime only loads what it uses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Protocol, cast, runtime_checkable

from ..base._errors import ConfigurationError

STANDIN = "standin"
LOCAL_PREFIX = "local/"
OPENAI_PREFIX = "openai/"
EMBEDDER_ENV_VAR = "CASTLM_EMBEDDER"

_NAME_HELP = (
    "use 'openai/<model>' (or a bare model name) for an OpenAI-compatible /embeddings "
    "endpoint, 'local/<model>' for sentence-transformers, or 'standin' for the offline test "
    "double"
)


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors; one vector per text, in order, all of the same length.

    ``name`` identifies the vector space: vectors from two embedders with the same name are
    comparable (castlm re-embeds a shipped demo pool when the name differs).
    """

    @property
    def name(self) -> str: ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...

    async def aembed(self, texts: Sequence[str]) -> list[list[float]]: ...


def make_embedder(
    name: str, *, base_url: str | None = None, api_key: str | None = None
) -> Embedder:
    """The embedder a name stands for (see the module docstring for names)."""
    name = name.strip()
    if not name:
        raise ConfigurationError(f"the embedder name is empty; {_NAME_HELP}")
    if name == STANDIN or name.startswith(STANDIN + "-"):
        return _standin(name)
    if name.startswith(LOCAL_PREFIX):
        from ._local_embed import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(_model_after(name, LOCAL_PREFIX))
    from ._openai_embed import OpenAIEmbedder

    model = _model_after(name, OPENAI_PREFIX) if name.startswith(OPENAI_PREFIX) else name
    return OpenAIEmbedder(model, base_url=base_url, api_key=api_key)


_shared: dict[str, Embedder] = {}
_shared_lock = threading.Lock()


def shared_embedder(name: str) -> Embedder:
    """One embedder per name for the whole process, so predictors share a connection pool."""
    with _shared_lock:
        embedder = _shared.get(name)
        if embedder is None:
            embedder = _shared[name] = make_embedder(name)
        return embedder


def _standin(name: str) -> Embedder:
    # castlm.testing is loaded only when the stand-in is asked for; a vendored runtime may
    # leave it out (then mypy, checking the package, cannot find it).
    try:
        # One line: pyright reports a name of a multi-line import that cannot be resolved.
        from ..testing._standin_embed import StandInEmbedder  # type: ignore[import-not-found, unused-ignore]
    except ImportError as exc:
        raise ConfigurationError(
            "the 'standin' embedder is not available in this castlm runtime (castlm.testing's "
            "embedder was not vendored); set CASTLM_EMBEDDER to a real embedder"
        ) from exc
    size = name.removeprefix(STANDIN).removeprefix("-")
    if size and not size.isdigit():
        raise ConfigurationError(f"unknown embedder {name!r}; {_NAME_HELP}")
    # A cast, not an inferred type: see _standin in lm/_lm_factory.py.
    make = cast("Callable[..., Embedder]", StandInEmbedder)
    return make(int(size)) if size else make()


def _model_after(name: str, prefix: str) -> str:
    model = name[len(prefix) :].strip()
    if not model:
        raise ConfigurationError(
            f"the embedder name {name!r} has no model after {prefix!r}; {_NAME_HELP}"
        )
    return model
