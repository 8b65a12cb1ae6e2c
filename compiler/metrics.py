"""Built-in metrics, and calling any metric safely.

A metric is a plain function ``metric(example, pred, trace=None) -> float | bool``. The
built-ins compare every label of the example that the prediction also has.
"""

from __future__ import annotations

import inspect
import re
import string
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from castlm import Example

from .errors import CompileError

Metric = Callable[..., Any]


def _predicted(pred: Any, name: str) -> Any:
    if isinstance(pred, Mapping):
        return pred.get(name)
    value: Any = getattr(pred, name, None)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return getattr(value, "value", value)  # enums compare by value


def _normalize(text: Any) -> str:
    lowered = str(text).lower()
    no_punct = "".join(ch for ch in lowered if ch not in string.punctuation)
    no_articles = re.sub(r"\b(a|an|the)\b", " ", no_punct)
    return " ".join(no_articles.split())


def exact_match(example: Example, pred: Any, trace: object = None) -> float:
    """Fraction of labels predicted exactly (strings compared after normalisation)."""
    labels = example.labels()
    if not labels:
        return 0.0
    hits = 0
    for name, expected in labels.items():
        got = _predicted(pred, name)
        if isinstance(expected, str) and isinstance(got, str):
            hits += _normalize(expected) == _normalize(got)
        else:
            hits += expected == got
    return hits / len(labels)


def token_f1(example: Example, pred: Any, trace: object = None) -> float:
    """Mean token-level F1 over the example's string labels (SQuAD-style)."""
    scores = []
    for name, expected in example.labels().items():
        got = _predicted(pred, name)
        scores.append(_f1(_normalize(expected).split(), _normalize(got or "").split()))
    return sum(scores) / len(scores) if scores else 0.0


def _f1(gold: list[str], guess: list[str]) -> float:
    common = Counter(gold) & Counter(guess)
    overlap = sum(common.values())
    if not gold or not guess or overlap == 0:
        return float(gold == guess)
    precision, recall = overlap / len(guess), overlap / len(gold)
    return 2 * precision * recall / (precision + recall)


BUILTIN: dict[str, Metric] = {"exact_match": exact_match, "f1": token_f1, "token_f1": token_f1}


def builtin(name: str, origin: str | None = None) -> Metric:
    if name not in BUILTIN:
        raise CompileError(
            f"unknown metric {name!r}; use a built-in ({', '.join(BUILTIN)}) or 'file.py:function'",
            path=origin,
        )
    return BUILTIN[name]


def takes_trace(metric: Metric) -> bool:
    try:
        params = inspect.signature(metric).parameters.values()
    except (TypeError, ValueError):
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 3 or any(p.kind is p.VAR_POSITIONAL for p in params)


def score_of(value: Any, metric: Metric) -> float:
    """A metric's return value as a float; a (score, feedback) pair counts by its score."""
    if isinstance(value, tuple) and value:
        value = value[0]
    score = getattr(value, "score", value)
    if isinstance(score, bool | int | float):
        return float(score)
    name = getattr(metric, "__name__", repr(metric))
    raise CompileError(f"metric {name} returned {value!r}; it must return a float or a bool")


def feedback_of(value: Any) -> str | dict[str, str] | None:
    """A metric's textual feedback, if it gave any (reflective optimizers such as GEPA read it).

    ``(score, feedback)`` tuples and objects with a ``.feedback`` attribute carry it; the
    feedback is a text, or a dict from predictor name to a text for that predictor. A plain
    float or bool has none.
    """
    if isinstance(value, tuple):
        feedback = value[1] if len(value) > 1 else None
    else:
        feedback = getattr(value, "feedback", None)
    if feedback is None or feedback == "":
        return None
    if isinstance(feedback, Mapping):
        return {str(k): str(v) for k, v in feedback.items() if v is not None}
    return str(feedback)
