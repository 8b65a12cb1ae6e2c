"""GEPA's loop: reflect on a parent's failures, keep children that do better, merge lines.

Each iteration either tries a scheduled merge (after a reflective child was accepted, at
most ``max_merge_invocations`` accepted merges) or makes one reflective mutation:

1. pick a parent from the pool (Pareto: by front membership; or the current best);
2. run it on the next minibatch of ``reflection_minibatch_size`` training examples (each
   epoch is a fresh shuffle); skip the iteration if every score is perfect;
3. pick the predictor(s) to change (round robin per candidate, or all) and ask the prompt
   model for a new instruction from the traces and feedback;
4. run the child on the same minibatch; accept it only if its score sum is strictly higher;
5. score an accepted child on the whole validation set and add it to the pool.

The run stops when the next evaluation would exceed the metric-call budget, or when a whole
epoch of iterations spent no metric call (every example perfect or remembered, and no
proposal changed anything): there is nothing left that more iterations could learn.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from castlm import Example, Module

from ..base import OptimizeContext
from .merge import Merger, judge
from .pareto import Pool
from .reflection import Reflector
from .rollouts import BudgetSpent, Outcome, Rollouts
from .settings import GepaSettings


@dataclass
class EpochSampler:
    """Minibatches of training indices: a shuffle per epoch, padded with the least used."""

    size: int
    batch: int
    rng: random.Random
    order: list[int] = field(default_factory=list)
    position: int = 0
    used: Counter[int] = field(default_factory=Counter)

    def next(self) -> list[int]:
        if self.position + self.batch > len(self.order):
            self._new_epoch()
        chunk = self.order[self.position : self.position + self.batch]
        self.position += self.batch
        return chunk

    def _new_epoch(self) -> None:
        order = list(range(self.size))
        self.rng.shuffle(order)
        self.used.update(order)
        while len(order) % self.batch or len(order) < self.batch:
            least = min(range(self.size), key=lambda i: (self.used[i], i))
            order.append(least)
            self.used[least] += 1
        self.order, self.position = order, 0


@dataclass
class Counts:
    iterations: int = 0
    perfect: int = 0  # minibatches skipped because every score was perfect
    unchanged: int = 0  # reflections that returned the parent's instruction
    rejected: int = 0  # children that did not beat their parent on the minibatch
    accepted: int = 0
    merges_tried: int = 0
    merges_accepted: int = 0
    stopped_by: str = "budget"


@dataclass
class Engine:
    student: Module
    trainset: Sequence[Example]
    valset: Sequence[Example]
    ctx: OptimizeContext
    settings: GepaSettings
    rollouts: Rollouts
    reflector: Reflector
    seed: int
    pool: Pool = field(default_factory=Pool)
    counts: Counts = field(default_factory=Counts)
    turn: list[int] = field(default_factory=list)  # per candidate: next predictor to change
    merges_due: int = 0
    found_new: bool = False  # the last iteration added a reflective child

    def run(self) -> Pool:
        seed_candidate = {n: p.instructions for n, p in self.student.named_predictors()}
        self._add(seed_candidate, (), self.rollouts.run(seed_candidate, self.valset))
        rng = random.Random(self.seed)
        sampler = EpochSampler(len(self.trainset), self.settings.reflection_minibatch_size, rng)
        merger = Merger()
        idle, patience = 0, len(self.trainset) // sampler.batch + 1
        self.ctx.progress.start("gepa: metric calls", self.rollouts.budget)
        shown = 0
        try:
            while idle <= patience:
                self.ctx.progress.advance(self.rollouts.used - shown)
                shown = self.rollouts.used
                self.counts.iterations += 1
                added = self._iteration(merger, sampler, rng)
                idle = 0 if added or self.rollouts.used > shown else idle + 1
            self.counts.stopped_by = (
                "an epoch without progress (every minibatch perfect or unchanged)"
            )
        except BudgetSpent:
            self.counts.stopped_by = "the metric-call budget"
        finally:
            self.ctx.progress.finish()
        return self.pool

    def _iteration(self, merger: Merger, sampler: EpochSampler, rng: random.Random) -> bool:
        """A scheduled merge attempt, else one reflective mutation; True if it added one."""
        s = self.settings
        merge_now = self.found_new and self.merges_due > 0
        self.found_new = False
        if s.use_merge and merge_now and self.counts.merges_accepted < s.max_merge_invocations:
            accepted = self._merge(merger, rng)
            if accepted is not None:  # tried: this iteration is spent, as in the reference
                self.merges_due -= int(accepted)
                return accepted
        if self._reflect(sampler, rng) is None:
            return False
        self.found_new = True
        if self.counts.merges_accepted < s.max_merge_invocations:
            self.merges_due += 1
        return True

    def _reflect(self, sampler: EpochSampler, rng: random.Random) -> int | None:
        """One reflective mutation; the index of the accepted child, or None."""
        names = [name for name, _ in self.student.named_predictors()]
        parent = self.pool.select_parent(rng, self.settings.candidate_selection_strategy)
        batch = [self.trainset[i] for i in sampler.next()]
        current = self.pool.candidates[parent]
        before = self.rollouts.run(current, batch)
        perfect = self.settings.perfect_score
        if self.settings.skip_perfect_score and all(o.score >= perfect for o in before):
            self.counts.perfect += 1
            return None
        if self.settings.component_selector == "all":
            chosen = names
        else:
            chosen = [names[self.turn[parent]]]
            self.turn[parent] = (self.turn[parent] + 1) % len(names)
        child = dict(current)
        for name in chosen:
            child[name] = self.reflector.rewrite(
                name, current[name], before, self.counts.iterations
            )
        if child == current:
            self.counts.unchanged += 1
            return None
        after = self.rollouts.run(child, batch)
        if sum(o.score for o in after) <= sum(o.score for o in before):
            self.counts.rejected += 1
            return None
        self.counts.accepted += 1
        return self._add(child, (parent,), self.rollouts.run(child, self.valset))

    def _merge(self, merger: Merger, rng: random.Random) -> bool | None:
        """A merge attempt: True if accepted, False if rejected, None if no pair could merge."""
        merge = merger.propose(self.pool, rng)
        if merge is None:
            return None
        self.counts.merges_tried += 1
        instances = [self.valset[i] for i in merge.instances]
        scores = [o.score for o in self.rollouts.run(merge.candidate, instances)]
        if not judge(self.pool, merge, scores):
            return False
        self.counts.merges_accepted += 1
        full = self.rollouts.run(merge.candidate, self.valset)
        self._add(merge.candidate, (merge.first, merge.second), full)
        return True

    def _add(self, candidate: dict[str, str], parents: tuple[int, ...], full: list[Outcome]) -> int:
        index = self.pool.add(candidate, parents, [o.score for o in full])
        # A child goes on with the predictor after the one its parents changed last.
        self.turn.append(max((self.turn[p] for p in parents), default=0))
        score = 100.0 * self.pool.aggregate(index)
        origin = "seed" if not parents else f"from {', '.join(map(str, parents))}"
        self.ctx.offer(f"gepa candidate {index} ({origin})", self.rollouts.params(candidate), score)
        return index
