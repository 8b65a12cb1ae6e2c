"""System-aware merge: combine two candidates that improved different predictors.

Two non-dominated candidates with a common ancestor, neither descending from the other, are
merged predictor by predictor: where one of them still has the ancestor's instruction and
the other changed it, the change is taken; where both changed it differently, the better
candidate's instruction is taken. A merge is only worth trying when some predictor has such
a one-sided change, when the ancestor is no better than either candidate, and when the same
triple or the same result was not tried before. The merged candidate is scored on
``SUBSAMPLE`` validation instances chosen to cover where each parent wins and where they tie,
and accepted if it scores at least as well there as the better parent.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from .pareto import Pool

SUBSAMPLE = 5  # validation instances a merge is judged on (no merge on a smaller valset)
ATTEMPTS = 10  # random pairs tried before giving up for this iteration


@dataclass(frozen=True)
class Merge:
    candidate: dict[str, str]
    first: int
    second: int
    ancestor: int
    instances: list[int]  # validation instances to judge it on


@dataclass
class Merger:
    tried_triples: set[tuple[int, int, int]] = field(default_factory=set)
    tried_results: set[tuple[int, int, tuple[int, ...]]] = field(default_factory=set)

    def propose(self, pool: Pool, rng: random.Random) -> Merge | None:
        if not pool.scores or len(pool.scores[0]) < SUBSAMPLE:
            return None
        merge_able = sorted(pool.dominators())
        if len(merge_able) < 2 or len(pool) < 3:
            return None
        for _ in range(ATTEMPTS):
            first, second = sorted(rng.sample(merge_able, 2))
            ancestor = self._ancestor(pool, first, second, rng)
            if ancestor is None:
                continue
            merged, sources = combine(pool, first, second, ancestor, rng)
            if (first, second, sources) in self.tried_results:
                continue
            self.tried_triples.add((first, second, ancestor))
            self.tried_results.add((first, second, sources))
            return Merge(merged, first, second, ancestor, subsample(pool, first, second, rng))
        return None

    def _ancestor(self, pool: Pool, first: int, second: int, rng: random.Random) -> int | None:
        mine, theirs = pool.ancestors(first), pool.ancestors(second)
        if first in theirs or second in mine:
            return None
        common = [
            a
            for a in sorted(mine & theirs)
            if (first, second, a) not in self.tried_triples
            and pool.aggregate(a) <= min(pool.aggregate(first), pool.aggregate(second))
            and one_sided(pool, a, first, second)
        ]
        if not common:
            return None
        weights = [pool.aggregate(a) for a in common]
        if sum(weights) <= 0:
            return rng.choice(common)
        return rng.choices(common, weights=weights, k=1)[0]


def one_sided(pool: Pool, ancestor: int, first: int, second: int) -> bool:
    """Some predictor kept the ancestor's text in one candidate and changed it in the other."""
    base, a, b = pool.candidates[ancestor], pool.candidates[first], pool.candidates[second]
    return any((base[n] == a[n] or base[n] == b[n]) and a[n] != b[n] for n in base)


def combine(
    pool: Pool, first: int, second: int, ancestor: int, rng: random.Random
) -> tuple[dict[str, str], tuple[int, ...]]:
    """The merged candidate, and which candidate each predictor's text came from."""
    base, a, b = pool.candidates[ancestor], pool.candidates[first], pool.candidates[second]
    merged: dict[str, str] = {}
    sources: list[int] = []
    for name in base:
        if base[name] == a[name] and a[name] != b[name]:
            source = second
        elif base[name] == b[name] and a[name] != b[name]:
            source = first
        elif a[name] != b[name]:  # both changed it: the better candidate's text
            sa, sb = pool.aggregate(first), pool.aggregate(second)
            source = first if sa > sb else second if sb > sa else rng.choice([first, second])
        else:
            source = first
        merged[name] = pool.candidates[source][name]
        sources.append(source)
    return merged, tuple(sources)


def subsample(pool: Pool, first: int, second: int, rng: random.Random) -> list[int]:
    """``SUBSAMPLE`` instances: where the first wins, where the second wins, where they tie."""
    a, b = pool.scores[first], pool.scores[second]
    everything = list(range(len(a)))
    buckets = (
        [i for i in everything if a[i] > b[i]],
        [i for i in everything if b[i] > a[i]],
        [i for i in everything if a[i] == b[i]],
    )
    chosen: list[int] = []
    each = max(1, math.ceil(SUBSAMPLE / 3))
    for bucket in buckets:
        take = min(len(bucket), each, SUBSAMPLE - len(chosen))
        chosen += rng.sample(bucket, take) if take > 0 else []
    rest = [i for i in everything if i not in chosen]
    chosen += rng.sample(rest, min(len(rest), SUBSAMPLE - len(chosen)))
    return chosen


def judge(pool: Pool, merge: Merge, scores: Sequence[float]) -> bool:
    """Accept when the merge scores at least as well as the better parent on the subsample."""
    first = sum(pool.scores[merge.first][i] for i in merge.instances)
    second = sum(pool.scores[merge.second][i] for i in merge.instances)
    return sum(scores) >= max(first, second)
