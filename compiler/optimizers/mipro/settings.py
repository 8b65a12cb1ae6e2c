"""MIPROv2's settings, its ``auto`` presets and the arithmetic that sizes a run."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Self

from pydantic import Field, model_validator

from ..base import Settings


@dataclass(frozen=True)
class Preset:
    candidates: int  # n: demo sets per predictor (instruction candidates: n/2, n zero-shot)
    valset_cap: int  # at most this many validation examples (a seeded sample)


PRESETS: dict[str, Preset] = {
    "light": Preset(6, 100),
    "medium": Preset(12, 300),
    "heavy": Preset(18, 1000),
}

# Trials are scored on minibatches only when the valset has more rows than this (as DSPy).
MIN_MINIBATCH_VALSET = 50

# In zero-shot mode demo sets are still bootstrapped, with this many demos, to ground the
# instruction proposals (they are never shown to the task model).
GROUNDING_DEMOS = 3


class MiproSettings(Settings):
    auto: Literal["light", "medium", "heavy"] | None = Field(
        default="light", description="preset for num_candidates, the trials and the valset cap"
    )
    num_candidates: int | None = Field(
        default=None, ge=1, description="demo sets per predictor (overrides the preset's n)"
    )
    num_trials: int | None = Field(
        default=None, ge=1, description="search trials (default: from the candidates)"
    )
    max_bootstrapped_demos: int = Field(default=4, ge=0)
    max_labeled_demos: int = Field(default=4, ge=0)
    metric_threshold: float | None = Field(
        default=None, description="a bootstrapped run is kept when its score is >= this"
    )
    seed: int = Field(default=9, description="added to the compile's --seed")
    init_temperature: float = Field(default=1.0, ge=0, description="proposal temperature")
    minibatch: bool = True
    minibatch_size: int = Field(default=35, ge=1)
    minibatch_full_eval_steps: int = Field(default=5, ge=1)
    parallel_trials: int = Field(
        default=4,
        ge=1,
        description="search trials asked at once and scored together in one pool of threads",
    )
    view_data_batch_size: int = Field(
        default=10, ge=1, description="training examples per dataset-description call"
    )
    proposal_examples: int = Field(
        default=10, ge=0, description="labeled training examples shown with each proposal"
    )
    data_aware: bool = Field(default=True, description="ground proposals in a dataset summary")
    program_aware: bool = Field(default=True, description="describe the program and the step")
    tip_aware: bool = Field(default=True, description="give each proposal a random style tip")
    fewshot_aware: bool = Field(default=True, description="show up to 3 bootstrapped demos")
    prompt_template: str | None = Field(
        default=None, description="replaces the instruction-proposal prompt's instructions"
    )
    storage: str | None = Field(
        default=None,
        description="optuna storage URL; default sqlite:///<project>/.castlm/mipro.db",
    )
    heartbeat_seconds: int = Field(
        default=30, ge=1, description="trial heartbeat; silent 4x this long means a dead worker"
    )

    @model_validator(mode="after")
    def _sized(self) -> Self:
        if self.auto is None and self.num_candidates is None:
            raise ValueError("set auto (light, medium or heavy) or num_candidates")
        return self

    @property
    def zero_shot(self) -> bool:
        """Both demo maxima 0: search instructions only."""
        return self.max_bootstrapped_demos == 0 and self.max_labeled_demos == 0

    @property
    def candidates(self) -> int:
        if self.num_candidates is not None:
            return self.num_candidates
        assert self.auto is not None
        return PRESETS[self.auto].candidates

    @property
    def instruction_count(self) -> int:
        """Instruction candidates per predictor, the original (slot 0) included: an explicit
        ``num_candidates``, or the preset's n (halved unless zero-shot), as DSPy sizes them."""
        if self.num_candidates is not None:
            return self.num_candidates
        n = self.candidates
        return n if self.zero_shot else max(1, n // 2)

    @property
    def valset_cap(self) -> int | None:
        return PRESETS[self.auto].valset_cap if self.auto is not None else None

    def trials(self, predictors: int) -> int:
        """``num_trials``, or max(2·v·log2 n, 1.5·n) with v = predictors x 2 (x 1 zero-shot)."""
        if self.num_trials is not None:
            return self.num_trials
        return default_trials(predictors, self.candidates, self.zero_shot)


def minibatching(settings: MiproSettings, n_val: int) -> bool:
    """Whether trials are scored on minibatches: asked for, and a valset of more than
    ``MIN_MINIBATCH_VALSET`` rows that is larger than one minibatch."""
    return settings.minibatch and n_val > MIN_MINIBATCH_VALSET and n_val > settings.minibatch_size


def default_trials(predictors: int, candidates: int, zero_shot: bool) -> int:
    variables = predictors * (1 if zero_shot else 2)
    return max(1, int(max(2 * variables * math.log2(max(candidates, 1)), 1.5 * candidates)))


def full_evaluations(trials: int, steps: int, every_trial: bool) -> int:
    """Full validation runs of a search: the unmodified program, one every ``steps`` trials,
    and a last one when the trials do not end on a step (none extra when every trial is one)."""
    if every_trial:
        return 0
    return 1 + trials // steps + (1 if trials % steps else 0)


def redact(url: str) -> str:
    """``url`` without its password (for messages and the manifest)."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}"
