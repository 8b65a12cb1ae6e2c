"""GEPA's settings and its metric-call budget."""

from __future__ import annotations

import math
from typing import Literal, Self

from pydantic import Field, model_validator

from ..base import Settings

PRESET_CANDIDATES = {"light": 6, "medium": 12, "heavy": 18}  # n, as MIPROv2's presets


class GepaSettings(Settings):
    auto: Literal["light", "medium", "heavy"] | None = Field(
        default="light", description="budget preset (ignored when a budget is given)"
    )
    max_metric_calls: int | None = Field(default=None, ge=1)
    max_full_evals: int | None = Field(
        default=None, ge=1, description="budget as full passes over train + val"
    )
    reflection_minibatch_size: int = Field(default=3, ge=1)
    candidate_selection_strategy: Literal["pareto", "current_best"] = "pareto"
    component_selector: Literal["round_robin", "all"] = "round_robin"
    skip_perfect_score: bool = True
    perfect_score: float = Field(default=1.0, description="a metric value that needs no fix")
    failure_score: float = Field(default=0.0, description="the score of a run that raised")
    use_merge: bool = True
    max_merge_invocations: int = Field(default=5, ge=0)
    reflection_temperature: float | None = Field(
        default=1.0, ge=0, description="sampling temperature of the reflection calls"
    )
    seed: int = Field(default=0, description="added to the compile's --seed")
    prompt_template: str | None = Field(
        default=None, description="replaces the reflection prompt's instructions"
    )

    @model_validator(mode="after")
    def _one_budget(self) -> Self:
        if self.max_metric_calls is not None and self.max_full_evals is not None:
            raise ValueError("give max_metric_calls or max_full_evals, not both")
        if self.auto is None and self.max_metric_calls is None and self.max_full_evals is None:
            raise ValueError(
                "set auto (light, medium or heavy), max_metric_calls or max_full_evals"
            )
        return self

    def budget(self, predictors: int, train: int, val: int) -> int:
        """Metric calls the run may make."""
        if self.max_metric_calls is not None:
            return self.max_metric_calls
        if self.max_full_evals is not None:
            return self.max_full_evals * (train + val)
        assert self.auto is not None
        return auto_budget(predictors, PRESET_CANDIDATES[self.auto], val)


def auto_budget(
    predictors: int, candidates: int, valset: int, minibatch: int = 35, steps: int = 5
) -> int:
    """V + 5n + 35N + (floor((N+1)/5) + 1 (+1 when N < 5)) * V, with MIPROv2's trial count
    N = max(2*(2*predictors)*log2 n, 1.5*n): what MIPROv2 would spend, as DSPy computes it."""
    trials = int(max(2 * (predictors * 2) * math.log2(candidates), 1.5 * candidates))
    total = valset + candidates * 5 + trials * minibatch
    if trials == 0:
        return total
    fulls = (trials + 1) // steps + 1 + (1 if steps > trials else 0)
    return total + fulls * valset
