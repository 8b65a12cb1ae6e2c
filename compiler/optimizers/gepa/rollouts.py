"""Running candidates on examples: scores, feedback and traces, within a metric-call budget.

Each (candidate, example) pair is run and scored at most once: a candidate's validation
results are remembered, so when a reflection minibatch draws an example the parent was
already scored on (the training and validation sets are often the same data), its trace and
feedback are reused instead of spending another metric call. The budget counts metric calls
actually made, and an evaluation that would exceed it is refused before it starts, so a run
never spends more than ``max_metric_calls``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from castlm import Example, Module, PredictorParams, trace

from ...errors import is_fatal
from ...metrics import feedback_of, score_of, takes_trace
from ..base import OptimizeContext
from ..parallel import parallel_map
from .pareto import Candidate


@dataclass(frozen=True)
class Step:
    """One predictor call of a run."""

    predictor: str
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any]


@dataclass(frozen=True)
class Outcome:
    """One run of a candidate on one example, scored."""

    example: Example
    score: float
    feedback: str | dict[str, str] | None
    steps: tuple[Step, ...] = ()
    error: str | None = None


class BudgetSpent(Exception):
    """The next evaluation would exceed the metric-call budget."""


@dataclass
class Rollouts:
    student: Module
    ctx: OptimizeContext
    budget: int
    failure_score: float = 0.0
    used: int = 0
    _memo: dict[tuple[str, str], Outcome] = field(default_factory=dict)

    @property
    def remaining(self) -> int:
        return self.budget - self.used

    def cost(self, candidate: Candidate, examples: Sequence[Example]) -> int:
        """Metric calls that evaluating ``candidate`` on ``examples`` would make."""
        key = _candidate_key(candidate)
        return sum((key, _example_key(ex)) not in self._memo for ex in set_of(examples))

    def run(self, candidate: Candidate, examples: Sequence[Example]) -> list[Outcome]:
        """Outcomes in the order of ``examples``; raises BudgetSpent if it cannot afford them."""
        if self.cost(candidate, examples) > self.remaining:
            raise BudgetSpent
        key = _candidate_key(candidate)
        program = self._program(candidate)
        names = {id(p): n for n, p in program.named_predictors()}
        todo = [ex for ex in set_of(examples) if (key, _example_key(ex)) not in self._memo]

        def one(example: Example) -> Outcome:
            return self._run_one(program, names, example)

        for example, outcome in zip(todo, parallel_map(one, todo, self.ctx.threads), strict=True):
            self._memo[(key, _example_key(example))] = outcome
        self.used += len(todo)
        return [self._memo[(key, _example_key(ex))] for ex in examples]

    def params(self, candidate: Candidate) -> dict[str, PredictorParams]:
        """The student's parameters with the candidate's instructions."""
        return {
            name: PredictorParams(candidate.get(name, p.instructions), p.demos)
            for name, p in self.student.named_predictors()
        }

    def _program(self, candidate: Candidate) -> Module:
        program = self.student.deepcopy()
        program.set_params(self.params(candidate))
        return program

    def _run_one(self, program: Module, names: Mapping[int, str], example: Example) -> Outcome:
        metric = self.ctx.metric
        try:
            with trace() as steps:
                prediction = program(**self.ctx.evaluator.call_args(example))
            args = (example, prediction, steps) if takes_trace(metric) else (example, prediction)
            value = metric(*args)
            score = score_of(value, metric)
        except Exception as exc:  # a failed run is a scored, explained failure
            if is_fatal(exc):  # a broken metric, an unreachable endpoint: stop, as evaluate does
                raise
            error = f"{type(exc).__name__}: {exc}"
            return Outcome(example, self.failure_score, f"The run failed: {error}", (), error)
        recorded = tuple(
            Step(names.get(id(s.predictor), s.signature), dict(s.inputs), dict(s.outputs))
            for s in steps
        )
        return Outcome(example, score, feedback_of(value), recorded)


def set_of(examples: Sequence[Example]) -> list[Example]:
    """``examples`` without repeats (a padded minibatch may hold one twice)."""
    seen: set[str] = set()
    unique = []
    for example in examples:
        key = _example_key(example)
        if key not in seen:
            seen.add(key)
            unique.append(example)
    return unique


def _candidate_key(candidate: Candidate) -> str:
    return json.dumps(dict(candidate), sort_keys=True)


def _example_key(example: Example) -> str:
    return json.dumps(example.to_dict(), sort_keys=True, default=str)
