"""The LMs an LM-judge metric calls, found so that their calls are counted.

A metric that asks a model to judge an answer (``judge = castlm.Predict(Judge, lm=...)`` at
module level, or in a closure) makes LM calls of its own. castlm finds those LMs in the
metric's globals and closure (an LM, a predictor or a module holding one) and adds them to the
compile as the ``metric`` role: their calls are metered per phase, shown in the usage table
and held to ``max_lm_calls`` / ``max_cost`` like every other call. An LM the metric builds on
each call cannot be found this way; docs/configuration.md says to build it once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from castlm import LM, Module, Predict

ROLE = "metric"


def metric_lms(metric: Any) -> list[LM]:
    """The distinct LM objects reachable from ``metric``'s globals and closure, in order."""
    found: dict[int, LM] = {}
    for value in _reachable(metric):
        for lm in _lms_of(value):
            found.setdefault(id(lm), lm)
    return list(found.values())


def _reachable(metric: Any) -> Iterable[Any]:
    function = getattr(metric, "__func__", metric)  # a bound method: its function
    code = getattr(function, "__code__", None)
    names = set(code.co_names) if code is not None else set()
    namespace = getattr(function, "__globals__", {})
    yield from (namespace[n] for n in names if n in namespace)  # only what the metric names
    for cell in getattr(function, "__closure__", None) or ():
        try:
            yield cell.cell_contents
        except ValueError:  # an empty cell
            continue
    owner = getattr(metric, "__self__", None)
    if owner is not None:
        yield from vars(owner).values() if hasattr(owner, "__dict__") else ()
    if not hasattr(metric, "__code__") and hasattr(metric, "__dict__"):  # a callable object
        yield from vars(metric).values()


def _lms_of(value: Any) -> list[LM]:
    if isinstance(value, LM):
        return [value]
    if isinstance(value, Predict):
        return [value.lm] if value.lm is not None else []
    if isinstance(value, Module):
        return [p.lm for p in value.predictors() if p.lm is not None]
    return []
