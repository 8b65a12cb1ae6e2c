"""Token usage and cost, per LM call, aggregated where the application asks for it.

``with castlm.track_usage() as usage:`` collects every LM call made inside the block, by any
predictor, in any thread started with the block's context (``castlm.batch`` does that) and in
any asyncio task created inside it. Blocks nest: a call counts in every enclosing report, so a
report per batch item and one for the whole batch come from the same records.

Costs are computed when a report is read, from the price table (:mod:`castlm._pricing`), so
the request path only appends one small record, and only while some report is open.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Generator, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._pricing import Price

NO_PREDICTOR = "(direct LM call)"


@dataclass(frozen=True, slots=True)
class LMCallRecord:
    """One LM call: who made it, which model answered, and the tokens it reported."""

    model: str
    prompt_tokens: int
    completion_tokens: int
    cached: bool
    predictor: Any = None  # the Predict object, None for a direct LM call
    signature: str | None = None


@dataclass(frozen=True, slots=True)
class UsageSummary:
    """Totals over some LM calls. Cache hits cost nothing and add no tokens.

    ``cost`` is in US dollars over the calls whose model has a price; models without one are
    listed in ``unpriced_models`` (so a cost of 0.0 is never silently wrong).
    """

    calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    unpriced_models: frozenset[str] = field(default_factory=frozenset[str])

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: UsageSummary) -> UsageSummary:
        return UsageSummary(
            self.calls + other.calls,
            self.cache_hits + other.cache_hits,
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cost + other.cost,
            self.unpriced_models | other.unpriced_models,
        )


def summarize(records: Iterable[LMCallRecord]) -> UsageSummary:
    from ._pricing import price_of  # prices matter when a report is read, not per call

    calls = hits = prompt = completion = 0
    cost = 0.0
    unpriced: set[str] = set()
    prices: dict[str, Price | None] = {}
    for r in records:
        if r.cached:
            hits += 1
            continue
        calls += 1
        prompt += r.prompt_tokens
        completion += r.completion_tokens
        if r.model not in prices:
            prices[r.model] = price_of(r.model)
        price = prices[r.model]
        if price is None:
            unpriced.add(r.model)
        else:
            cost += (r.prompt_tokens * price[0] + r.completion_tokens * price[1]) / 1_000_000
    return UsageSummary(calls, hits, prompt, completion, cost, frozenset(unpriced))


class UsageReport:
    """The LM calls of one ``track_usage`` block; safe to read while calls are running."""

    def __init__(self) -> None:
        self._records: list[LMCallRecord] = []
        self._lock = threading.Lock()

    def add(self, record: LMCallRecord) -> None:
        with self._lock:
            self._records.append(record)

    @property
    def records(self) -> tuple[LMCallRecord, ...]:
        with self._lock:
            return tuple(self._records)

    @property
    def total(self) -> UsageSummary:
        return summarize(self.records)

    def by_model(self) -> dict[str, UsageSummary]:
        """Totals per model that answered."""
        return _grouped(self.records, lambda r: r.model)

    def by_predictor(self, program: Any = None) -> dict[str, UsageSummary]:
        """Totals per predictor: keyed by its dotted name in ``program`` (a Module) when
        given, else by its signature's name; direct LM calls under ``NO_PREDICTOR``."""
        names: dict[int, str] = {}
        if program is not None:
            names = {id(p): name for name, p in program.named_predictors()}

        def key(r: LMCallRecord) -> str:
            if r.predictor is None:
                return NO_PREDICTOR
            return names.get(id(r.predictor)) or r.signature or NO_PREDICTOR

        return _grouped(self.records, key)

    def __repr__(self) -> str:
        t = self.total
        return (
            f"UsageReport(calls={t.calls}, cache_hits={t.cache_hits}, "
            f"tokens={t.total_tokens}, cost=${t.cost:.6f})"
        )


def _grouped(
    records: Iterable[LMCallRecord], key: Callable[[LMCallRecord], str]
) -> dict[str, UsageSummary]:
    groups: dict[str, list[LMCallRecord]] = {}
    for r in records:
        groups.setdefault(key(r), []).append(r)
    return {name: summarize(rs) for name, rs in groups.items()}


_active: ContextVar[tuple[UsageReport, ...]] = ContextVar("castlm_usage", default=())


def active() -> tuple[UsageReport, ...]:
    """The open reports of the current context, outermost first."""
    return _active.get()


@contextlib.contextmanager
def track_usage() -> Generator[UsageReport, None, None]:
    """Collect the usage of every LM call made inside the block (see the module docstring)."""
    report = UsageReport()
    token = _active.set((*_active.get(), report))
    try:
        yield report
    finally:
        _active.reset(token)
