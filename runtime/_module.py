"""Modules: plain Python classes that wire predictors together in ``forward``."""

from __future__ import annotations

import asyncio
import copy
import difflib
from collections.abc import Iterator, Mapping
from typing import Any, Self

from ._errors import ConfigurationError
from ._lm import LM
from ._predict import Predict, PredictorParams


class Module:
    """Base class of programs.

    Predictors are ordinary attributes (also inside nested modules, lists and dicts); each has
    a stable dotted name such as ``route`` or ``hops.0``, which keys its frozen parameters.
    """

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    async def acall(self, *args: Any, **kwargs: Any) -> Any:
        """Run the program asynchronously: ``aforward`` if defined, else ``forward`` in a thread."""
        aforward = getattr(self, "aforward", None)
        if aforward is not None:
            return await aforward(*args, **kwargs)
        return await asyncio.to_thread(self.forward, *args, **kwargs)

    # -- structure -----------------------------------------------------------------------
    def named_predictors(self) -> list[tuple[str, Predict[Any]]]:
        """Every predictor with its dotted name, in declaration order, each once."""
        seen: set[int] = set()
        found: list[tuple[str, Predict[Any]]] = []
        for name, predictor in _walk(self, "", {id(self)}):
            if id(predictor) not in seen:
                seen.add(id(predictor))
                found.append((name, predictor))
        return found

    def predictors(self) -> list[Predict[Any]]:
        return [p for _, p in self.named_predictors()]

    def predictor(self, name: str) -> Predict[Any]:
        named = dict(self.named_predictors())
        if name not in named:
            raise KeyError(_unknown(name, named))
        return named[name]

    # -- parameters ----------------------------------------------------------------------
    def get_params(self) -> dict[str, PredictorParams]:
        return {name: p.params for name, p in self.named_predictors()}

    def set_params(self, params: Mapping[str, PredictorParams]) -> None:
        """Load parameters by predictor name; an unknown name is an error, not a no-op."""
        named = dict(self.named_predictors())
        for name in params:
            if name not in named:
                raise ConfigurationError(_unknown(name, named))
        for name, value in params.items():
            named[name].params = value

    def reset_params(self) -> None:
        for p in self.predictors():
            p.reset()

    def set_lm(self, lm: LM | None) -> None:
        """Use ``lm`` for every predictor of this program."""
        for p in self.predictors():
            p.lm = lm

    def deepcopy(self) -> Self:
        """A copy whose parameters can change without touching this one (LMs are shared)."""
        return copy.deepcopy(self)

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={p!r}" for n, p in self.named_predictors())
        return f"{type(self).__name__}({inner})"


def _walk(value: Any, prefix: str, seen: set[int]) -> Iterator[tuple[str, Predict[Any]]]:
    if isinstance(value, Predict):
        yield prefix, value
    elif isinstance(value, Module):
        for attr, child in vars(value).items():
            if not attr.startswith("_"):
                yield from _walk_child(child, _join(prefix, attr), seen)
    elif isinstance(value, list | tuple):
        for i, child in enumerate(value):
            yield from _walk_child(child, _join(prefix, str(i)), seen)
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from _walk_child(child, _join(prefix, str(key)), seen)


def _walk_child(child: Any, name: str, seen: set[int]) -> Iterator[tuple[str, Predict[Any]]]:
    if isinstance(child, Module):
        if id(child) in seen:  # a module that refers back to a parent
            return
        seen = seen | {id(child)}
    yield from _walk(child, name, seen)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _unknown(name: str, named: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(name, list(named), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"the program has no predictor {name!r}{hint}; it has {sorted(named)}"
