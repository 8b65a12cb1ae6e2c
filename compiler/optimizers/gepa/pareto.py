"""GEPA's candidate pool and its per-instance Pareto fronts.

A candidate maps each predictor name to an instruction. Every candidate in the pool has a
score on every validation instance; an instance's *front* is the set of candidates holding
the best score on it. Parents are drawn in proportion to how many fronts a candidate is on,
after removing candidates that are dominated: a candidate is dominated when every front it
is on also holds another (not yet removed) candidate. Keeping candidates that are best on
*some* instances, rather than only the best on average, is what keeps the search diverse.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

Candidate = Mapping[str, str]


@dataclass
class Pool:
    candidates: list[dict[str, str]] = field(default_factory=list)
    parents: list[tuple[int, ...]] = field(default_factory=list)
    scores: list[list[float]] = field(default_factory=list)  # [candidate][instance]

    def add(self, candidate: Candidate, parents: Sequence[int], scores: Sequence[float]) -> int:
        if self.scores and len(scores) != len(self.scores[0]):
            raise ValueError("every candidate is scored on the same validation instances")
        self.candidates.append(dict(candidate))
        self.parents.append(tuple(parents))
        self.scores.append(list(scores))
        return len(self.candidates) - 1

    def __len__(self) -> int:
        return len(self.candidates)

    def aggregate(self, index: int) -> float:
        row = self.scores[index]
        return sum(row) / len(row) if row else 0.0

    def best(self) -> int:
        """The candidate with the best mean validation score (the earliest on a tie)."""
        return max(range(len(self)), key=lambda i: (self.aggregate(i), -i))

    def fronts(self) -> list[set[int]]:
        """For each validation instance, the candidates with the best score on it."""
        if not self.scores:
            return []
        fronts = []
        for instance in range(len(self.scores[0])):
            top = max(row[instance] for row in self.scores)
            fronts.append({c for c, row in enumerate(self.scores) if row[instance] == top})
        return fronts

    def dominators(self) -> set[int]:
        """The candidates left after removing dominated ones, weakest first."""
        fronts = self.fronts()
        alive = {c for front in fronts for c in front}
        for candidate in sorted(alive, key=lambda c: (self.aggregate(c), -c)):
            others = alive - {candidate}
            mine = [front for front in fronts if candidate in front]
            if mine and all(front & others for front in mine):
                alive = others
        return alive

    def front_counts(self) -> dict[int, int]:
        """How many fronts each non-dominated candidate is on."""
        alive = self.dominators()
        counts: dict[int, int] = {}
        for front in self.fronts():
            for c in front & alive:
                counts[c] = counts.get(c, 0) + 1
        return counts

    def select_parent(self, rng: random.Random, strategy: str = "pareto") -> int:
        """A parent: drawn by front membership (``pareto``) or the best (``current_best``)."""
        if strategy == "current_best":
            return self.best()
        counts = self.front_counts()
        ordered = sorted(counts)
        return rng.choices(ordered, weights=[counts[c] for c in ordered], k=1)[0]

    def ancestors(self, index: int) -> set[int]:
        found: set[int] = set()
        todo = list(self.parents[index])
        while todo:
            parent = todo.pop()
            if parent not in found:
                found.add(parent)
                todo.extend(self.parents[parent])
        return found
