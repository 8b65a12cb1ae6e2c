"""Per-predictor LMs: ``predictor_lms = { "stage.route" = "openai/small" }`` in castlm.toml.

A pipeline meant to run a cheap classifier and a strong generator is optimized on those
models, not on the task LM alone: each named predictor of the student gets its own LM before
the optimizer runs (candidates are copies, which keep it), and the emitted package freezes
the model as the predictor's ``model`` parameter. The package calls one LM client (its
default LM, or the one passed to ``load()``) and asks it for that model, so a predictor's LM
must use the task LM's backend: ``openai/...`` (or a bare name) with ``openai/...``,
``litellm/...`` with ``litellm/...``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from castlm import LM, Module, PredictorParams

from .errors import CompileError

ROLE_PREFIX = "predictor:"  # the role of a predictor's LM in the usage table


def backend(name: str) -> str:
    """The backend an LM name selects (see castlm.make_lm)."""
    if name == "standin":
        return "standin"
    return "litellm" if name.startswith("litellm/") else "openai"


def check(
    student: Module, named: Mapping[str, Any], task_lm: str | None, origin: Path | str | None
) -> None:
    """Every name is a predictor of the student and, for a compile (``task_lm`` given: the
    package will call one client), every LM name is on the task LM's backend."""
    known = [n for n, _ in student.named_predictors()]
    for name, lm in named.items():
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"its predictors: {', '.join(known)}"
            raise CompileError(
                f"predictor_lms names {name!r}, which is not a predictor of "
                f"{type(student).__name__}; {hint}",
                path=origin,
            )
        if task_lm is not None and backend(lm) != backend(task_lm):
            raise CompileError(
                f"predictor_lms.{name} = {lm!r} uses another backend than lm = {task_lm!r}; the "
                f"package calls one LM client and asks it for each predictor's model, so name a "
                f"model of the same backend (e.g. {_same_backend(task_lm)})",
                path=origin,
            )


def _same_backend(task_lm: str) -> str:
    kind = backend(task_lm)
    return {"litellm": "'litellm/<provider>/<model>'", "standin": "'standin'"}.get(
        kind, "'openai/<model>'"
    )


def apply(student: Module, lms: Mapping[str, LM]) -> None:
    """Give each named predictor its LM (copies of ``student`` keep it: LMs are shared)."""
    for name, lm in lms.items():
        student.predictor(name).lm = lm


def freeze(
    params: Mapping[str, PredictorParams], lms: Mapping[str, LM]
) -> dict[str, PredictorParams]:
    """The parameters with each named predictor's model frozen in, unless the optimizer set
    one (a fine-tuned model id wins)."""
    frozen = dict(params)
    for name, lm in lms.items():
        if name in frozen and frozen[name].model is None:
            frozen[name] = replace(frozen[name], model=lm.model)
    return frozen
