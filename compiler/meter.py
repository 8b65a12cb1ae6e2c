"""Counting a compile's LM work: per phase, per LM role, with cost where a price is known.

The roles are the task LM, the teacher LM and the prompt LM. Roles that share one LM object
(``teacher_lm`` not set, or set to the task LM's name) are one entry labelled with all of
them, e.g. ``task+teacher``, so nothing is counted twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from castlm import LM, LMStats

from .pricing import Price, PriceBook, add_costs, cost


@dataclass(frozen=True)
class RoleLM:
    """One LM object of a compile and the roles it plays."""

    roles: str  # "task", "teacher", "prompt", or several joined with "+"
    name: str  # the LM name as configured (e.g. "openai/gpt-4o-mini")
    lm: LM
    price: Price | None


def role_lms(named: Mapping[str, tuple[str, LM]], prices: PriceBook) -> list[RoleLM]:
    """Group ``{role: (lm name, LM)}`` by LM object, in role order."""
    groups: dict[int, list[str]] = {}
    for role, (_, lm) in named.items():
        groups.setdefault(id(lm), []).append(role)
    found = []
    for role, (name, lm) in named.items():
        roles = groups[id(lm)]
        if roles[0] == role:
            found.append(RoleLM("+".join(roles), name, lm, prices.price_of_lm(name, lm)))
    return found


@dataclass(frozen=True)
class LMUse:
    """What one LM did in one phase."""

    roles: str
    lm: str
    calls: int
    cache_hits: int
    prompt_tokens: int
    completion_tokens: int
    cost: float | None  # US dollars; None: this LM has no known price

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class PhaseStats:
    """LM calls, cache hits, tokens, cost and time of one phase of a compile."""

    name: str
    calls: int
    cache_hits: int
    tokens: int
    seconds: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = 0.0
    by_lm: tuple[LMUse, ...] = ()
    threads: int = 1

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        data["cost"] = _rounded(self.cost)
        data["by_lm"] = [{**asdict(u), "cost": _rounded(u.cost)} for u in self.by_lm]
        return data


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


@dataclass
class Meter:
    """Counts LM work per phase across every LM the compile uses."""

    lms: Sequence[RoleLM]
    threads: int = 1
    phases: list[PhaseStats] = field(default_factory=list)

    def spent(self) -> float | None:
        """US dollars spent so far by all LMs (None when one of them has no price)."""
        return add_costs(
            *(
                cost(r.price, r.lm.stats.usage.prompt_tokens, r.lm.stats.usage.completion_tokens)
                for r in self.lms
            )
        )

    @contextmanager
    def phase(self, name: str, threads: int | None = None) -> Iterator[None]:
        before = [r.lm.stats.snapshot() for r in self.lms]
        start = time.perf_counter()
        try:
            yield
        finally:
            used = [_use(r, r.lm.stats.since(b)) for r, b in zip(self.lms, before, strict=True)]
            self.phases.append(
                _phase(name, used, time.perf_counter() - start, threads or self.threads)
            )

    def add(self, name: str, calls: int, cache_hits: int, seconds: float) -> None:
        """A phase measured elsewhere (the verify subprocess reports calls and hits only)."""
        spent = 0.0 if calls == 0 else None  # its tokens are not reported
        self.phases.append(PhaseStats(name, calls, cache_hits, 0, seconds, cost=spent))


def _use(role: RoleLM, stats: LMStats) -> LMUse:
    usage = stats.usage
    return LMUse(
        role.roles,
        role.name,
        stats.calls,
        stats.cache_hits,
        usage.prompt_tokens,
        usage.completion_tokens,
        cost(role.price, usage.prompt_tokens, usage.completion_tokens),
    )


def _phase(name: str, used: Sequence[LMUse], seconds: float, threads: int) -> PhaseStats:
    return PhaseStats(
        name,
        sum(u.calls for u in used),
        sum(u.cache_hits for u in used),
        sum(u.tokens for u in used),
        seconds,
        sum(u.prompt_tokens for u in used),
        sum(u.completion_tokens for u in used),
        add_costs(*(u.cost for u in used if u.calls)),
        tuple(used),
        threads,
    )


def total_cost(phases: Sequence[PhaseStats]) -> float | None:
    return add_costs(*(p.cost for p in phases if p.calls))
