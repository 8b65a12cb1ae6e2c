"""Context-local settings: which LM to use, caching, sampling overrides and traces.

castlm has no global settings object. Everything a call needs and does not get from its
predictor comes from a :class:`contextvars.ContextVar`, so two threads or two asyncio tasks can
use different LMs, or record different traces, without seeing each other's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..lm._lm import LM, LMResponse, Message


@dataclass(frozen=True, slots=True)
class TraceStep:
    """One predictor call: who was called, with what, and what came back."""

    predictor: Any  # the Predict object; typed loosely to avoid an import cycle
    signature: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    messages: tuple[Message, ...]
    response: LMResponse


@dataclass(frozen=True, slots=True)
class CallContext:
    lm: LM | None = None
    use_cache: bool = True
    temperature: float | None = None
    rollout: int | None = None
    trace: list[TraceStep] | None = field(default=None)
    # Beats the predictors' own LMs: one LM for all, or per Predict object.
    override_lm: LM | Mapping[Any, LM] | None = None


# The default is frozen and holds no list (trace is None), so sharing it is safe.
_current: ContextVar[CallContext] = ContextVar("castlm_context", default=CallContext())  # noqa: B039


def current() -> CallContext:
    return _current.get()


_UNSET: Any = object()


@contextlib.contextmanager
def context(
    *,
    lm: LM | None = _UNSET,
    cache: bool = _UNSET,
    temperature: float | None = _UNSET,
    rollout: int | None = _UNSET,
    override_lm: LM | Mapping[Any, LM] | None = _UNSET,
) -> Generator[None, None, None]:
    """Override, for the code inside the ``with`` block only, how predictors call their LM.

    ``lm`` is used by predictors that have no LM of their own; ``override_lm`` is used even
    by those that have one: an LM for every predictor, or a mapping from Predict objects to
    the LM each should use (``{program.route: cheap}``; predictors not in it keep theirs).
    ``cache=False`` bypasses the response cache; ``temperature`` and ``rollout`` change the
    sampling of every request.
    """
    changes: dict[str, Any] = {
        name: value
        for name, value in (
            ("lm", lm),
            ("use_cache", cache),
            ("temperature", temperature),
            ("rollout", rollout),
            ("override_lm", override_lm),
        )
        if value is not _UNSET
    }
    token = _current.set(replace(_current.get(), **changes))
    try:
        yield
    finally:
        _current.reset(token)


@contextlib.contextmanager
def trace() -> Generator[list[TraceStep], None, None]:
    """Record every predictor call made inside the block, in order."""
    steps: list[TraceStep] = []
    token = _current.set(replace(_current.get(), trace=steps))
    try:
        yield steps
    finally:
        _current.reset(token)
