"""LabeledFewShot: demos sampled from the labeled training data; no LM calls."""

from __future__ import annotations

import random
import zlib
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from castlm import Example, Module, Predict, PredictorParams
from pydantic import Field

from .base import OptimizeContext, Optimizer, OptimizeResult, Settings


class LabeledSettings(Settings):
    k: int = Field(default=16, ge=0, description="demos per predictor")


def usable_demo(predictor: Predict[Any], example: Example) -> bool:
    """An example can teach a predictor if it has all its required inputs and some output."""
    spec = predictor.spec
    has_inputs = all(f.name in example for f in spec.inputs if f.required)
    return has_inputs and any(f.name in example for f in spec.outputs)


def sample_labeled(
    name: str, predictor: Predict[Any], pool: Sequence[Example], k: int, seed: int
) -> list[Mapping[str, Any]]:
    """``k`` usable examples for one predictor, drawn with a seed of its own.

    Each predictor draws independently (seeded by its name), so adding a predictor does not
    change the demos another one gets.
    """
    usable = [ex for ex in pool if usable_demo(predictor, ex)]
    rng = random.Random(seed ^ zlib.crc32(name.encode()))
    chosen = rng.sample(usable, min(k, len(usable)))
    return list(predictor.normalize_demos(chosen))


class LabeledFewShot(Optimizer[LabeledSettings]):
    name = "labeled"
    scores_candidates = False
    settings_model: ClassVar[type[Settings]] = LabeledSettings

    def estimate_calls(self, n_predictors: int, n_train: int, n_val: int) -> int:
        return 0  # demos come straight from the data

    def compile(
        self,
        student: Module,
        *,
        trainset: Sequence[Example],
        valset: Sequence[Example],
        ctx: OptimizeContext,
    ) -> OptimizeResult:
        settings = self.opts
        params = {
            name: PredictorParams(
                p.instructions,
                tuple(sample_labeled(name, p, trainset, settings.k, ctx.seed)),
                model=p.model,  # a model the student's predictor has (a fine-tuned one) stays
            )
            for name, p in student.named_predictors()
        }
        return OptimizeResult(params, notes=(f"{settings.k} labeled demos per predictor at most",))
