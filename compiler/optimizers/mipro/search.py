"""Step 3 of MIPROv2: Bayesian search over instruction and demo-set indices.

Every predictor contributes two categorical parameters (its instruction index and its
demo-set index; only the first in zero-shot mode) to a ``TPESampler(multivariate=True)``
search. The unmodified program is the first trial. A trial is scored on a minibatch of the
validation set, seeded by its rank, so rank k sees the same examples in every worker and
every rerun. After every ``minibatch_full_eval_steps``-th trial, the combination with the
best mean minibatch score that has no full evaluation yet is scored on the whole validation
set; so is the unmodified program at the start, and the best remaining combination at the
end. The answer is the best *full* evaluation (the earliest on a tie), so it is never worse
on the validation set than the unmodified program.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from castlm import Example, Module, PredictorParams
from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial, Trial, TrialState

from ..base import OptimizeContext
from .demosets import Demos
from .sampler import mix
from .study import FULL, LIVE, SharedStudy

POLL_SECONDS = 0.2  # how often a worker with nothing to claim looks at the others' trials


@dataclass(frozen=True)
class Space:
    """The candidates, and the optuna parameters that index them."""

    instructions: Mapping[str, Sequence[str]]
    demo_sets: Mapping[str, Sequence[Demos]]
    set_labels: Sequence[str]
    search_demos: bool

    @property
    def names(self) -> list[str]:
        return list(self.instructions)

    def distributions(self) -> dict[str, CategoricalDistribution]:
        dists = {}
        for name in self.names:
            dists[f"{name}::instruction"] = _choices(len(self.instructions[name]))
            if self.search_demos:
                dists[f"{name}::demos"] = _choices(len(self.demo_sets[name]))
        return dists

    def default(self) -> dict[str, int]:
        """The unmodified program: the original instruction, the program's own demos."""
        return {key: 0 for key in self.distributions()}

    def suggest(self, trial: Trial) -> dict[str, int]:
        return {
            key: int(trial.suggest_categorical(key, list(dist.choices)))  # type: ignore[arg-type]
            for key, dist in self.distributions().items()
        }

    def params(self, combo: Mapping[str, Any]) -> dict[str, PredictorParams]:
        params = {}
        for name in self.names:
            instruction = self.instructions[name][int(combo.get(f"{name}::instruction", 0))]
            demos = self.demo_sets[name][int(combo.get(f"{name}::demos", 0))]
            params[name] = PredictorParams(instruction, tuple(demos))
        return params

    def label(self, combo: Mapping[str, Any]) -> str:
        parts = []
        for name in self.names:
            part = f"{name}: instruction {combo.get(f'{name}::instruction', 0)}"
            if self.search_demos:
                index = int(combo.get(f"{name}::demos", 0))
                part += f", demos {index} ({self.set_labels[index]})"
            parts.append(part)
        return "; ".join(parts)


def _choices(n: int) -> CategoricalDistribution:
    return CategoricalDistribution(list(range(n)))


def key_of(combo: Mapping[str, Any]) -> str:
    return json.dumps({k: int(v) for k, v in combo.items()}, sort_keys=True)


@dataclass(frozen=True)
class SearchPlan:
    num_trials: int
    minibatch_size: int
    full_eval_steps: int
    every_trial_full: bool  # minibatches off, or as large as the valset
    seed: int
    grace: float  # seconds after which an unlabelled RUNNING trial counts as dead


@dataclass(frozen=True)
class Full:
    combo: dict[str, int]
    score: float
    number: int


@dataclass
class SearchOutcome:
    best: Full
    ran: int = 0  # search trials this worker ran
    full_evals: int = 0  # full evaluations this worker ran
    study_trials: int = 0
    study_full_evals: int = 0
    runs: int = 0  # program runs this worker made (one per example scored)


@dataclass
class Search:
    study: SharedStudy
    space: Space
    student: Module
    valset: Sequence[Example]
    ctx: OptimizeContext
    plan: SearchPlan
    _ran: int = 0
    _fulls: int = 0
    _runs: int = 0
    _offered: set[int] = field(default_factory=set)

    def run(self) -> SearchOutcome:
        self.study.reap(self.plan.grace)
        self.study.enqueue_default(self.space.default())
        self._offer_recorded()
        if not self.plan.every_trial_full:
            self._full_eval(self.space.default(), "unmodified")
        self._catch_up()  # a resumed study may have finished blocks without their evaluation
        while True:
            claimed = self.study.claim(self.plan.num_trials)
            if claimed is not None:
                self._trial(*claimed)
                continue
            # Every slot is claimed. Trials of dead workers free theirs; wait for the live
            # ones, whose results count for the full evaluations and the answer.
            self.study.reap(self.plan.grace)
            pending = self.study.search_trials(TrialState.WAITING, TrialState.RUNNING)
            if any(t.state == TrialState.WAITING for t in pending):
                continue
            if not pending:
                break
            time.sleep(POLL_SECONDS)
        if not self.plan.every_trial_full and self.plan.num_trials % self.plan.full_eval_steps:
            self._full_eval_best("final", self.study.search_trials(TrialState.COMPLETE))
        self._offer_recorded()
        return SearchOutcome(
            self._best(),
            self._ran,
            self._fulls,
            len(self.study.search_trials(TrialState.COMPLETE)),
            len(self.study.full_records()),
            self._runs,
        )

    # -- trials -------------------------------------------------------------------------
    def _trial(self, trial: Trial, rank: int) -> None:
        combo = self.space.suggest(trial)
        examples = self._minibatch(rank)
        label = f"mipro trial {rank + 1}/{self.plan.num_trials}"
        with self.study.heartbeat(trial):
            try:
                score = self._score(combo, examples, label)
            except BaseException:
                self.study.tell(trial, state=TrialState.FAIL)
                raise
        if self.plan.every_trial_full:
            trial.set_user_attr(FULL, True)
        self.study.tell(trial, score)
        self._ran += 1
        if self.plan.every_trial_full:
            self._offer(combo, score, trial.number)
        else:
            self._catch_up()

    def _minibatch(self, rank: int) -> list[Example]:
        if self.plan.every_trial_full:
            return list(self.valset)
        rng = random.Random(mix(self.plan.seed, "minibatch", rank))
        size = min(self.plan.minibatch_size, len(self.valset))
        return [self.valset[i] for i in sorted(rng.sample(range(len(self.valset)), size))]

    def _score(self, combo: Mapping[str, Any], examples: Sequence[Example], label: str) -> float:
        program = self.student.deepcopy()
        program.set_params(self.space.params(combo))
        self._runs += len(examples)
        return self.ctx.evaluate(program, examples, label)

    # -- full evaluations ---------------------------------------------------------------
    def _catch_up(self) -> None:
        """One full evaluation per block of ``full_eval_steps`` ranks, once the block is done.

        Whoever completes a block's last trial evaluates it (among several workers, trials
        finish out of order), and a resumed compile evaluates a block the interrupted one
        finished but did not evaluate, so every run of a study makes the same evaluations.
        """
        if self.plan.every_trial_full:
            return
        ranked = self.study.search_trials(*LIVE)  # rank order
        finished = next(
            (i for i, t in enumerate(ranked) if t.state != TrialState.COMPLETE), len(ranked)
        )
        steps = self.plan.full_eval_steps
        filled = self.study.slots()
        for boundary in range(steps, min(finished, self.plan.num_trials) + 1, steps):
            if f"step {boundary}" not in filled:
                self._full_eval_best(f"step {boundary}", ranked[:boundary])

    def _full_eval_best(self, slot: str, trials: Sequence[FrozenTrial]) -> None:
        """Fully evaluate the combination of ``trials`` with the best mean minibatch score
        that has no full evaluation yet."""
        if slot in self.study.slots():
            return
        done = {key_of(t.params) for t in self.study.full_records()}
        means: dict[str, list[float]] = {}
        first: dict[str, FrozenTrial] = {}
        for t in trials:
            key = key_of(t.params)
            if key not in done and t.value is not None:
                means.setdefault(key, []).append(t.value)
                first.setdefault(key, t)
        if not means:
            return
        key = max(means, key=lambda k: (sum(means[k]) / len(means[k]), -first[k].number))
        self._full_eval(_combo(first[key].params), slot)

    def _full_eval(self, combo: dict[str, int], slot: str) -> None:
        if slot in self.study.slots():
            return
        score = self._score(combo, self.valset, f"mipro full evaluation ({slot})")
        if self.study.add_full(combo, self.space.distributions(), score, slot):
            self._fulls += 1
        self._offer_recorded()

    def _offer_recorded(self) -> None:
        for record in self.study.full_records():
            if record.value is not None:
                self._offer(_combo(record.params), record.value, record.number)

    def _offer(self, combo: dict[str, int], score: float, number: int) -> None:
        if number not in self._offered:
            self._offered.add(number)
            label = f"mipro full evaluation: {self.space.label(combo)}"
            self.ctx.offer(label, self.space.params(combo), score)

    def _best(self) -> Full:
        scored = [
            Full(_combo(r.params), r.value, r.number)
            for r in self.study.full_records()
            if r.value is not None
        ]
        if not scored:  # nothing fully evaluated (only when no trial could run)
            return Full(self.space.default(), 0.0, -1)
        return max(scored, key=lambda f: (f.score, -f.number))


def _combo(params: Mapping[str, Any]) -> dict[str, int]:
    return {k: int(v) for k, v in params.items()}
