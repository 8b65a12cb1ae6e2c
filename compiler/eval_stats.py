"""The statistics of ``castlm eval``: a score's confidence interval, a paired comparison of
two programs on the same rows, and latency percentiles (docs/eval.md says why these).

Scores are per-row metric values in [0, 1]; what is returned is in percent, like every
score castlm prints. Resampling is seeded, so the same scores always give the same numbers.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

Z95 = 1.959963984540054  # the standard normal's 97.5th percentile
RESAMPLES = 2000
SEED = 0


@dataclass(frozen=True)
class Interval:
    """A 95% confidence interval in percent, and how it was computed."""

    low: float
    high: float
    method: str  # "wilson" or "bootstrap"


@dataclass(frozen=True)
class Paired:
    """A against B on the same rows: the mean difference (percentage points) with its 95%
    paired-bootstrap interval, and the exact two-sided sign test over rows that differ."""

    difference: float
    interval: Interval
    wins: int  # rows where A scored higher
    losses: int  # rows where B scored higher
    ties: int
    p_value: float

    def worse(self, alpha: float) -> bool:
        """A is significantly worse than B: it loses more rows than it wins and the sign
        test rejects "A and B are equally likely to win a row" at level ``alpha``."""
        return self.losses > self.wins and self.p_value < alpha


def mean(scores: Sequence[float]) -> float:
    return 100.0 * sum(scores) / len(scores) if scores else 0.0


def interval(scores: Sequence[float]) -> Interval:
    """Wilson's interval when every score is 0 or 1 (a proportion: it stays inside [0, 100]
    and keeps a width at 0% and 100%, where a bootstrap collapses to a point); otherwise
    a percentile bootstrap of the mean."""
    if not scores:
        return Interval(0.0, 0.0, "none")
    if all(s in (0.0, 1.0) for s in scores):
        low, high = wilson(sum(scores), len(scores))
        return Interval(100.0 * low, 100.0 * high, "wilson")
    low, high = _bootstrap(scores)
    return Interval(low, high, "bootstrap")


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def paired(a: Sequence[float], b: Sequence[float]) -> Paired:
    if len(a) != len(b):
        raise ValueError(f"paired scores need the same rows: {len(a)} and {len(b)}")
    differences = [x - y for x, y in zip(a, b, strict=True)]
    wins = sum(d > 0 for d in differences)
    losses = sum(d < 0 for d in differences)
    low, high = _bootstrap(differences)
    return Paired(
        difference=mean(differences),
        interval=Interval(low, high, "paired bootstrap"),
        wins=wins,
        losses=losses,
        ties=len(differences) - wins - losses,
        p_value=sign_test(wins, losses),
    )


def sign_test(wins: int, losses: int) -> float:
    """Exact two-sided binomial test of ``wins`` against ``losses`` at p = 1/2 (for 0/1
    scores this is the exact McNemar test); ties carry no information and are left out."""
    n = wins + losses
    if n == 0:
        return 1.0
    tail: float = sum(math.comb(n, k) for k in range(min(wins, losses) + 1)) / 2**n
    return min(1.0, 2.0 * tail)


def _bootstrap(values: Sequence[float]) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of the resampled mean, in percent."""
    rng = random.Random(SEED)
    n = len(values)
    if n == 0:
        return 0.0, 0.0
    means = sorted(mean(rng.choices(values, k=n)) for _ in range(RESAMPLES))
    return percentile(means, 2.5), percentile(means, 97.5)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of sorted ``values``, interpolating linearly between
    the closest ranks (numpy's default method)."""
    if not values:
        return 0.0
    position = (len(values) - 1) * q / 100.0
    below = math.floor(position)
    above = min(below + 1, len(values) - 1)
    return values[below] + (values[above] - values[below]) * (position - below)


def latency(seconds: Sequence[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {f"p{q}": round(percentile(ordered, q), 4) for q in (50, 95, 99)}
