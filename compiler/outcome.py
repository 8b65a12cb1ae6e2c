"""What a compile reports: scores, LM usage per phase, the plan, and any budget stop.

``CompileOutcome.to_json()`` is the ``castlm compile --json`` schema (docs/compiling.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .config import ProgramConfig
from .emit.runtime_copy import Footprint
from .meter import PhaseStats, RoleLM, total_cost
from .plan import Plan


@dataclass(frozen=True)
class BudgetUse:
    """The limits of a compile and what it spent (calls admitted by the budget, dollars)."""

    max_lm_calls: int | None
    max_cost: float | None
    lm_calls: int
    cost: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "max_lm_calls": self.max_lm_calls,
            "max_cost": self.max_cost,
            "lm_calls": self.lm_calls,
            "cost": None if self.cost is None else round(self.cost, 6),
        }


@dataclass(frozen=True)
class CompileOutcome:
    config: ProgramConfig
    up_to_date: bool = False
    baseline: float | None = None
    compiled: float | None = None
    train_size: int = 0
    dev_size: int = 0
    #: 0 when the optimizer validated on the training set.
    val_size: int = 0
    #: The compiled program's train and val scores (with a separate validation set).
    split_scores: Mapping[str, float] = field(default_factory=dict)
    errors: int = 0
    phases: tuple[PhaseStats, ...] = ()
    notes: tuple[str, ...] = ()
    seconds: float = 0.0
    verified: bool = False
    plan: Plan | None = None
    #: Why the optimizer was stopped early (a budget), and what was emitted instead.
    stopped: str | None = None
    budget: BudgetUse | None = None
    lms: tuple[RoleLM, ...] = ()
    optimizer_stats: Mapping[str, float] = field(default_factory=dict)
    #: What the user must not miss, e.g. a compiled score below the baseline.
    warnings: tuple[str, ...] = ()
    #: What the package vendors of castlm's runtime (``<pkg>/_runtime``).
    runtime: Footprint | None = None

    @property
    def lm_calls(self) -> int:
        return sum(p.calls for p in self.phases)

    @property
    def cache_hits(self) -> int:
        return sum(p.cache_hits for p in self.phases)

    @property
    def tokens(self) -> int:
        return sum(p.tokens for p in self.phases)

    @property
    def cost(self) -> float | None:
        return total_cost(self.phases)

    @property
    def report(self) -> str | None:
        from .compile_report import REPORT_MD

        return None if self.up_to_date else str(self.config.out / REPORT_MD)

    def to_json(self) -> dict[str, Any]:
        cost = self.cost
        return {
            "program": str(self.config.program),
            "package": self.config.package,
            "out": str(self.config.out),
            "up_to_date": self.up_to_date,
            "scores": {
                "baseline": self.baseline,
                "compiled": self.compiled,
                **dict(self.split_scores),
            },
            "train_size": self.train_size,
            "val_size": self.val_size,
            "dev_size": self.dev_size,
            "errors": self.errors,
            "lm_calls": self.lm_calls,
            "cache_hits": self.cache_hits,
            "tokens": self.tokens,
            "cost": None if cost is None else round(cost, 6),
            "phases": [p.to_json() for p in self.phases],
            "lms": [
                {"roles": r.roles, "name": r.name, "price": list(r.price) if r.price else None}
                for r in self.lms
            ],
            "plan": self.plan.to_json() if self.plan is not None else None,
            "budget": self.budget.to_json() if self.budget is not None else None,
            "stopped": self.stopped,
            "optimizer_stats": dict(self.optimizer_stats),
            "report": self.report,
            "seconds": round(self.seconds, 3),
            "verified": self.verified,
            "notes": list(self.notes),
            "warnings": list(self.warnings),
            "runtime": self.runtime.to_json() if self.runtime is not None else None,
        }
