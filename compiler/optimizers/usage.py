"""LM calls per phase of an optimizer, counted across every LM of the context.

The task, teacher and prompt LMs may be one object or three; each is counted once. The
counts are real calls (cache misses) and cache hits, read from the LMs' own statistics, so
an optimizer reports what it spent rather than what it planned.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from castlm import LM

from .base import OptimizeContext


@dataclass
class UsageMeter:
    lms: list[LM]
    calls: dict[str, int] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, ctx: OptimizeContext) -> UsageMeter:
        unique: dict[int, LM] = {}
        for lm in (ctx.task_lm, ctx.teacher, ctx.prompter):
            unique.setdefault(id(lm), lm)
        return cls(list(unique.values()))

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        before = [lm.stats.snapshot() for lm in self.lms]
        try:
            yield
        finally:
            used = [lm.stats.since(b) for lm, b in zip(self.lms, before, strict=True)]
            self.calls[name] = self.calls.get(name, 0) + sum(u.calls for u in used)
            self.hits[name] = self.hits.get(name, 0) + sum(u.cache_hits for u in used)

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def total_hits(self) -> int:
        return sum(self.hits.values())

    def stats(self) -> dict[str, float]:
        """``lm_calls``, ``cache_hits`` and ``lm_calls_<phase>`` for OptimizeResult.stats."""
        out: dict[str, float] = {"lm_calls": self.total_calls, "cache_hits": self.total_hits}
        out.update({f"lm_calls_{k.replace(' ', '_')}": v for k, v in self.calls.items()})
        return out

    def summary(self) -> str:
        parts = ", ".join(f"{v} {k}" for k, v in self.calls.items())
        return f"{self.total_calls} LM calls ({parts}), {self.total_hits} cache hits"
