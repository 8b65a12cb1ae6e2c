"""Step 3 of MIPROv2: Bayesian search over instruction and demo-set indices.

Every predictor contributes two categorical parameters (its instruction index and its
demo-set index; only the first in zero-shot mode) to a ``TPESampler(multivariate=True)``
search. The unmodified program is the first trial. A trial is scored on a minibatch of the
validation set, seeded by its rank, so rank k sees the same examples in every worker and
every rerun. After every ``minibatch_full_eval_steps``-th trial, the combination with the
best mean minibatch score that has no full evaluation yet is scored on the whole validation
set; so is the unmodified program at the start, and the best remaining combination at the
end. Trials are asked ``parallel_trials`` at a time (a batch fixed by rank) and scored, with
the full evaluations already due, in one pool of ``ctx.threads`` (a *wave*). The answer is
the best *full* evaluation (the earliest on a tie), so it is never worse on the validation
set than the unmodified program.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from castlm import Example, Module, PredictorParams
from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial, Trial, TrialState

from ...evaluate import EvalResult
from ..base import OptimizeContext
from ..parallel import Job, run_jobs
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
    parallel_trials: int = 1  # trials asked at once and scored together


@dataclass(frozen=True)
class Claimed:
    trial: Trial
    rank: int
    combo: dict[str, int]


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
        while True:
            # The full evaluations whose trials are all done run in one wave with the next
            # batch of trials: their combinations are fixed, so nothing waits for them.
            fulls = self._due_fulls()
            batch = self._claim_batch()
            if fulls or batch:
                self._wave(batch, fulls)
                continue
            # Every slot is claimed. Trials of dead workers free theirs; wait for the live
            # ones, whose results count for the full evaluations and the answer.
            self.study.reap(self.plan.grace)
            pending = self.study.search_trials(TrialState.WAITING, TrialState.RUNNING)
            if any(t.state == TrialState.WAITING for t in pending):
                continue
            if not pending and not self.study.claims(TrialState.RUNNING):
                break
            time.sleep(POLL_SECONDS)
        if not self.plan.every_trial_full and self.plan.num_trials % self.plan.full_eval_steps:
            final = self._best_unevaluated(self.study.search_trials(TrialState.COMPLETE), set())
            if final is not None and "final" not in self.study.slots():
                self._wave([], [(final, "final")])
        self._wait_for_claims()
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
    def _claim_batch(self) -> list[Claimed]:
        """Up to ``parallel_trials`` trials, ending at the next multiple of it in rank.

        Batches are fixed by rank (ranks 0..k-1, k..2k-1, ...) and a batch's trials are
        asked one after another before any of them runs, so with one worker trial r always
        sees the same history: the earlier batches done, and the earlier trials of its own
        batch running (TPE's constant liar keeps them from being proposed again). A resumed
        compile re-asks a killed batch from its first rank with that same history.
        """
        batch: list[Claimed] = []
        while True:
            claimed = self.study.claim(self.plan.num_trials)
            if claimed is None:
                return batch
            trial, rank = claimed
            batch.append(Claimed(trial, rank, self.space.suggest(trial)))
            if (rank + 1) % self.plan.parallel_trials == 0:
                return batch

    def _wave(self, batch: Sequence[Claimed], fulls: Sequence[tuple[dict[str, int], str]]) -> None:
        """Score ``batch`` on their minibatches and ``fulls`` on the valset, all in one pool
        of ``ctx.threads``; then record them."""
        claims = self._claim_fulls(fulls)
        evals = [(c.combo, self._minibatch(c.rank)) for c in batch]
        evals += [(combo, list(range(len(self.valset)))) for combo, _, _ in claims]
        labels = [f"{c.rank + 1}" for c in batch] + [slot for _, slot, _ in claims]
        if not evals:
            return
        label = f"mipro trials/full evaluations {', '.join(labels)} of {self.plan.num_trials}"
        with contextlib.ExitStack() as beats:
            for c in batch:
                beats.enter_context(self.study.heartbeat(c.trial))
            for _, _, claim in claims:
                beats.enter_context(self.study.heartbeat(claim))
            try:
                scores = self._score_many(evals, label)
            except BaseException:
                for c in batch:
                    self.study.tell(c.trial, state=TrialState.FAIL)
                for _, _, claim in claims:
                    self.study.finish_full(claim, None)
                raise
        for c, score in zip(batch, scores, strict=False):
            if self.plan.every_trial_full:
                c.trial.set_user_attr(FULL, True)
            self.study.tell(c.trial, score)
            self._ran += 1
            if self.plan.every_trial_full:
                self._offer(c.combo, score, c.trial.number)
        for (_, _, claim), score in zip(claims, scores[len(batch) :], strict=True):
            self.study.finish_full(claim, score)
            self._fulls += 1
        self._offer_recorded()

    def _claim_fulls(
        self, fulls: Sequence[tuple[dict[str, int], str]]
    ) -> list[tuple[dict[str, int], str, int]]:
        """The full evaluations of ``fulls`` this worker won the slot of, with its claims."""
        claims = []
        for combo, slot in fulls:
            claim = self.study.claim_full(combo, self.space.distributions(), slot)
            if claim is not None:
                claims.append((combo, slot, claim))
        return claims

    def _wait_for_claims(self) -> None:
        """Until the full evaluations other workers are running are recorded (or their
        workers found dead): the answer is the best of them all, the same in every worker."""
        while True:
            self.study.reap(self.plan.grace)
            if not self.study.claims(TrialState.RUNNING):
                return
            time.sleep(POLL_SECONDS)

    def _minibatch(self, rank: int) -> list[int]:
        """Indices into the valset: trial ``rank``'s minibatch (the same in every run)."""
        if self.plan.every_trial_full:
            return list(range(len(self.valset)))
        rng = random.Random(mix(self.plan.seed, "minibatch", rank))
        size = min(self.plan.minibatch_size, len(self.valset))
        return sorted(rng.sample(range(len(self.valset)), size))

    def _score_many(
        self, evals: Sequence[tuple[dict[str, int], list[int]]], label: str
    ) -> list[float]:
        """Each (combination, example indices) scored in percent. A (combination, example)
        pair asked for twice in a wave runs once: the unmodified program's full evaluation
        and the first trial share examples, and concurrent duplicates would miss the cache."""
        programs: dict[str, Module] = {}
        jobs: dict[tuple[str, int], Job] = {}
        for combo, indices in evals:
            key = key_of(combo)
            if key not in programs:
                programs[key] = self.student.deepcopy()
                programs[key].set_params(self.space.params(combo))
            for i in indices:
                jobs.setdefault((key, i), Job(programs[key], self.valset[i], i))
            self._runs += len(indices)
        done = dict(zip(jobs, run_jobs(self.ctx, list(jobs.values()), label), strict=True))
        scores = []
        for combo, indices in evals:
            key = key_of(combo)
            scores.append(EvalResult(tuple(done[(key, i)] for i in indices)).score)
        return scores

    # -- full evaluations ---------------------------------------------------------------
    def _due_fulls(self) -> list[tuple[dict[str, int], str]]:
        """The full evaluations due and not yet recorded: the unmodified program first, then
        one per block of ``full_eval_steps`` ranks once the block is done.

        Among several workers trials finish out of order, and a resumed compile may find
        blocks the interrupted one finished but did not evaluate, so every run of a study
        makes the same evaluations.
        """
        if self.plan.every_trial_full:
            return []
        filled = self.study.slots()
        done = {key_of(t.params) for t in self.study.claims()}
        due: list[tuple[dict[str, int], str]] = []
        if "unmodified" not in filled:
            due.append((self.space.default(), "unmodified"))
            done.add(key_of(self.space.default()))
        ranked = self.study.search_trials(*LIVE)  # rank order
        finished = next(
            (i for i, t in enumerate(ranked) if t.state != TrialState.COMPLETE), len(ranked)
        )
        steps = self.plan.full_eval_steps
        for boundary in range(steps, min(finished, self.plan.num_trials) + 1, steps):
            slot = f"step {boundary}"
            if slot not in filled:
                combo = self._best_unevaluated(ranked[:boundary], done)
                if combo is not None:
                    due.append((combo, slot))
                    done.add(key_of(combo))
        return due

    def _best_unevaluated(
        self, trials: Sequence[FrozenTrial], chosen: set[str]
    ) -> dict[str, int] | None:
        """The combination of ``trials`` with the best mean minibatch score that has no full
        evaluation yet and is not in ``chosen``."""
        done = chosen | {key_of(t.params) for t in self.study.claims()}
        means: dict[str, list[float]] = {}
        first: dict[str, FrozenTrial] = {}
        for t in trials:
            key = key_of(t.params)
            if key not in done and t.value is not None:
                means.setdefault(key, []).append(t.value)
                first.setdefault(key, t)
        if not means:
            return None
        key = max(means, key=lambda k: (sum(means[k]) / len(means[k]), -first[k].number))
        return _combo(first[key].params)

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
