"""Nearest-neighbour demos: a predictor that picks its demos per call from a shipped pool.

A :class:`KNNPool` holds, for one predictor, entries made at compile time: the text that was
embedded (the predictor's inputs, rendered by :func:`knn_key`), its vector and the demos it
contributes. :class:`KNNDemos` (``PredictorParams.knn``) says how many entries a call uses. At
inference the predictor embeds its own inputs (one embedding request per call), takes the
``k`` entries nearest by cosine similarity and shows their demos after its fixed ones.

Prompts stay rendered once: the system message and the fixed demos are the predictor's cached
prefix, and each entry's demo messages are rendered the first time the entry is chosen.

The embedder is, in order: the one attached with :func:`set_embedder`, the one the
optimizer attached at compile time, ``$CASTLM_EMBEDDER``, then the one named in the pool. A
pool embedded with another embedder is re-embedded once, on first use (one request per 256
entries), since vectors from different embedders cannot be compared.
"""

from __future__ import annotations

import heapq
import json
import math
import operator
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..base._errors import ConfigurationError
from ..embed._embed import EMBEDDER_ENV_VAR, Embedder, shared_embedder
from . import _adapter
from ._signature import SignatureSpec

if TYPE_CHECKING:
    from ..lm._lm import Message
    from ._module import Module
    from ._predict import Predict, PredictorParams

POOL_FORMAT = "castlm-knn/1"


@dataclass(frozen=True)
class PoolEntry:
    """One neighbour: the text that was embedded, its vector, and the demos it brings."""

    key: str
    vector: tuple[float, ...]
    demos: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class KNNPool:
    """A predictor's demo pool; ``embedder`` names the embedder its vectors came from."""

    embedder: str
    entries: tuple[PoolEntry, ...]


@dataclass(frozen=True)
class KNNDemos:
    """Per call, the demos of the ``k`` pool entries nearest to the inputs (most similar
    first). ``embedder`` is an embedder object to use instead of the one named by the pool
    (not part of the frozen parameters)."""

    pool: KNNPool
    k: int = 3
    embedder: Embedder | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ConfigurationError(f"KNNDemos: k must be at least 1, got {self.k}")

    def prefix_for(self, predictor: Predict[Any], values: Mapping[str, Any]) -> tuple[Message, ...]:
        """``predictor``'s prefix plus these demos for ``values``; a method, so that Predict
        reaches this module through its parameters and never imports it."""
        return prefix_for(self, predictor, values)


def knn_demos(params: PredictorParams) -> KNNDemos | None:
    """``params.knn`` as the KNNDemos it is (the one demo picker castlm can freeze)."""
    knn = params.knn
    if knn is not None and not isinstance(knn, KNNDemos):
        raise ConfigurationError(
            f"PredictorParams.knn must be a castlm.KNNDemos to be frozen into a package, got "
            f"a {type(knn).__name__}"
        )
    return knn


def knn_key(spec: SignatureSpec, values: Mapping[str, Any]) -> str:
    """The text embedded for a call: one ``name: value`` line per input that is set."""
    return "\n".join(
        f"{f.name}: {_adapter.format_value(f, values[f.name])}"
        for f in spec.inputs
        if values.get(f.name) is not None
    )


def set_embedder(program: Module | Predict[Any], embedder: Embedder | None) -> None:
    """Use ``embedder`` for the nearest-neighbour demos of every predictor of ``program``
    (``None``: back to ``$CASTLM_EMBEDDER`` or the pool's embedder)."""
    from ._predict import Predict

    predictors = [program] if isinstance(program, Predict) else program.predictors()
    for predictor in predictors:
        if isinstance(predictor.knn, KNNDemos):
            predictor.knn = replace(predictor.knn, embedder=embedder)


# -- choosing demos ----------------------------------------------------------------------
def prefix_for(
    knn: KNNDemos, predictor: Predict[Any], values: Mapping[str, Any]
) -> tuple[Message, ...]:
    """The predictor's prefix plus the demos of ``knn``'s entries nearest to ``values``."""
    base = predictor.prefix()
    picker = predictor._knn_picker
    if not isinstance(picker, _Picker) or picker.knn is not knn or picker.base is not base:
        picker = _Picker(predictor, knn, base)
        predictor._knn_picker = picker  # a benign race: equal pickers for equal parameters
    return picker.prefix(values)


class _Picker:
    """Chooses and renders the nearest entries for one predictor's parameters."""

    def __init__(self, predictor: Predict[Any], knn: KNNDemos, base: tuple[Message, ...]) -> None:
        self.knn = knn
        self.base = base
        self.spec = predictor.spec
        self.adapter = predictor.adapter
        self.instructions = predictor.instructions
        self._rendered: dict[int, tuple[Message, ...]] = {}
        self._spaces: dict[str, tuple[list[tuple[float, ...]], list[float]]] = {}
        self._lock = threading.Lock()

    def prefix(self, values: Mapping[str, Any]) -> tuple[Message, ...]:
        if not self.knn.pool.entries:
            return self.base
        embedder = self._embedder()
        vectors, norms = self._space(embedder)
        query = embedder.embed([knn_key(self.spec, values)])[0]
        chosen = nearest(query, vectors, norms, self.knn.k)
        return (*self.base, *(m for i in chosen for m in self._demo_messages(i)))

    def _embedder(self) -> Embedder:
        if self.knn.embedder is not None:
            return self.knn.embedder
        name = os.environ.get(EMBEDDER_ENV_VAR, "").strip() or self.knn.pool.embedder
        return shared_embedder(name)

    def _space(self, embedder: Embedder) -> tuple[list[tuple[float, ...]], list[float]]:
        """The pool's vectors in ``embedder``'s space, and their lengths."""
        with self._lock:
            found = self._spaces.get(embedder.name)
        if found is not None:
            return found
        entries = self.knn.pool.entries
        if embedder.name == self.knn.pool.embedder:
            vectors = [e.vector for e in entries]
        else:
            vectors = [tuple(v) for v in embedder.embed([e.key for e in entries])]
        space = (vectors, [_length(v) for v in vectors])
        with self._lock:
            self._spaces[embedder.name] = space
        return space

    def _demo_messages(self, index: int) -> tuple[Message, ...]:
        rendered = self._rendered.get(index)
        if rendered is None:
            demos = self.knn.pool.entries[index].demos
            # The adapter renders demos only as part of a prefix; drop its system message.
            rendered = self.adapter.prefix(self.spec, self.instructions, demos)[1:]
            self._rendered[index] = rendered
        return rendered


def nearest(
    query: Sequence[float], vectors: Sequence[Sequence[float]], norms: Sequence[float], k: int
) -> list[int]:
    """Indices of the ``k`` vectors most cosine-similar to ``query``; ties: lower index."""
    if vectors and len(query) != len(vectors[0]):
        raise ConfigurationError(
            f"the query vector has {len(query)} dimensions but the demo pool's have "
            f"{len(vectors[0])}: the embedder differs from the pool's; give it another name"
        )
    q = _length(query)
    scores = [
        sum(map(operator.mul, query, v)) / (q * n) if q and n else 0.0
        for v, n in zip(vectors, norms, strict=True)
    ]
    return heapq.nsmallest(k, range(len(scores)), key=lambda i: (-scores[i], i))


def _length(vector: Sequence[float]) -> float:
    return math.sqrt(sum(x * x for x in vector))


# -- the pool file -----------------------------------------------------------------------
def dump_knn_pools(pools: Mapping[str, KNNPool]) -> str:
    """The pools as JSON text: one entry per line, ASCII only (any text survives)."""
    lines = ["{", f' "format": {json.dumps(POOL_FORMAT)},', ' "pools": {']
    for number, (name, pool) in enumerate(pools.items()):
        lines.append(f"  {json.dumps(name)}: {{")
        lines.append(f'   "embedder": {json.dumps(pool.embedder)},')
        lines.append('   "entries": [')
        for i, entry in enumerate(pool.entries):
            # Whole numbers as "0", not "0.0": sparse vectors stay short.
            vector = [int(x) if float(x).is_integer() else x for x in entry.vector]
            data = {"key": entry.key, "demos": list(entry.demos), "vector": vector}
            comma = "," if i < len(pool.entries) - 1 else ""
            lines.append(f"    {json.dumps(data, ensure_ascii=True, allow_nan=False)}{comma}")
        lines.append("   ]")
        lines.append("  }" + ("," if number < len(pools) - 1 else ""))
    lines += [" }", "}"]
    return "\n".join(lines) + "\n"


def load_knn_pools(path: str | os.PathLike[str]) -> dict[str, KNNPool]:
    """The pools of a file written by :func:`dump_knn_pools`."""
    try:
        text = Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read the demo pools in {path}: {exc}") from exc
    return parse_knn_pools(text, str(path))


def parse_knn_pools(text: str, where: str = "the pool file") -> dict[str, KNNPool]:
    try:
        data = json.loads(text)
        if data["format"] != POOL_FORMAT:
            raise ValueError(f"format {data['format']!r}, expected {POOL_FORMAT!r}")
        return {str(name): _pool(raw) for name, raw in data["pools"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigurationError(
            f"{where} is not a castlm demo pool file ({type(exc).__name__}: {exc}); "
            "recompile the package instead of editing it"
        ) from exc


def _pool(raw: Mapping[str, Any]) -> KNNPool:
    entries = tuple(
        PoolEntry(
            key=str(item["key"]),
            vector=tuple(float(x) for x in item["vector"]),
            demos=tuple(dict(d) for d in item["demos"]),
        )
        for item in raw["entries"]
    )
    return KNNPool(embedder=str(raw["embedder"]), entries=entries)
