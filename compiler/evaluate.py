"""Evaluation: run a program over examples in parallel and score each prediction.

Failures are results too: an example whose run raises scores 0, and its error is kept and
counted, never hidden.
"""

from __future__ import annotations

import contextvars
import inspect
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from castlm import AuditRecord, Example, Module, TraceStep, add_audit_hook, trace

from .errors import CompileError, is_fatal, is_transient
from .metrics import Metric, score_of, takes_trace
from .progress import NoProgress, Progress


@dataclass(frozen=True)
class ExampleResult:
    index: int
    example: Example
    prediction: Any
    score: float
    error: str | None = None
    trace: tuple[TraceStep, ...] = ()
    #: An LM call failed at the endpoint during this run (errors.is_transient), raised or
    #: caught by the program: that failure is not cached, so a rerun may go another way.
    transient: bool = False
    #: Wall-clock seconds the program took on this example (its latency; scoring excluded).
    seconds: float = 0.0


@dataclass(frozen=True)
class EvalResult:
    results: tuple[ExampleResult, ...]

    @property
    def score(self) -> float:
        """Mean score in percent over every example (errors count as 0)."""
        if not self.results:
            return 0.0
        return 100.0 * sum(r.score for r in self.results) / len(self.results)

    @property
    def errors(self) -> int:
        return sum(r.error is not None for r in self.results)

    def error_summary(self, limit: int = 3) -> list[str]:
        return [f"example {r.index}: {r.error}" for r in self.results if r.error][:limit]


@dataclass
class Evaluator:
    """Runs ``program`` on examples with ``threads`` workers and scores with ``metric``."""

    metric: Metric
    call_args: Callable[[Example], dict[str, Any]] = field(default=lambda e: e.inputs())
    threads: int = 8
    progress: Progress = field(default_factory=NoProgress)

    def __call__(
        self,
        program: Module | Callable[..., Any],
        examples: Sequence[Example],
        *,
        label: str = "evaluate",
    ) -> EvalResult:
        self.progress.start(label, len(examples))
        # A hook of its own (removing one removes every registration of that function).
        stop_watching = add_audit_hook(lambda record: _note_lm_failure(record))
        try:
            with ThreadPoolExecutor(max_workers=max(1, self.threads)) as pool:
                futures = [
                    pool.submit(contextvars.copy_context().run, self.run_one, program, i, ex)
                    for i, ex in enumerate(examples)
                ]
                return EvalResult(tuple(f.result() for f in futures))
        finally:
            stop_watching()
            self.progress.finish()

    def run_one(
        self, program: Module | Callable[..., Any], index: int, example: Example
    ) -> ExampleResult:
        """One example: run, score, keep the trace; an exception becomes a scored failure.

        The metric gets ``trace=None``, as DSPy's evaluation passes it: a metric written as
        ``if trace is None:`` is strict only while bootstrapping, which passes the trace.
        """
        failures: list[BaseException] = []
        watching = _lm_failures.set(failures)
        started = time.perf_counter()
        try:
            with trace() as steps:
                prediction = program(**self.call_args(example))
            seconds = time.perf_counter() - started
            score = self.score(example, prediction, None)
            return ExampleResult(
                index, example, prediction, score, None, tuple(steps), bool(failures), seconds
            )
        except Exception as exc:  # every failure is reported in the result, none is raised
            if is_fatal(exc):  # a broken metric, an unreachable endpoint: stop, do not score 0
                raise
            message = f"{type(exc).__name__}: {exc}"
            transient = bool(failures) or is_transient(exc)
            seconds = time.perf_counter() - started
            return ExampleResult(index, example, None, 0.0, message, (), transient, seconds)
        finally:
            _lm_failures.reset(watching)
            self.progress.advance()

    def score(self, example: Example, prediction: Any, steps: Sequence[TraceStep] | None) -> float:
        args = (example, prediction, steps) if takes_trace(self.metric) else (example, prediction)
        try:
            value = self.metric(*args)
        except Exception as exc:  # the metric is the user's code: its bug stops the compile
            raise metric_failure(self.metric, exc, example) from exc
        return score_of(value, self.metric)


# The LM calls that failed during the example being run in this context, also those the
# program caught (a fallback, a retry of its own): the replay would not see them fail.
_lm_failures: ContextVar[list[BaseException] | None] = ContextVar(
    "castlm_eval_lm_failures", default=None
)


def _note_lm_failure(record: AuditRecord) -> None:
    failures = _lm_failures.get()
    if failures is not None and record.error is not None and is_transient(record.error):
        failures.append(record.error)


def metric_failure(metric: Metric, exc: Exception, example: Example) -> CompileError:
    """A metric that raised, reported at the metric's own file and line."""
    name = getattr(metric, "__name__", repr(metric))
    try:
        path: str | None = inspect.getsourcefile(metric)
        line: int | None = inspect.getsourcelines(metric)[1]
    except (TypeError, OSError):
        path, line = None, None
    return CompileError(
        f"the metric {name} raised {type(exc).__name__}: {exc} on the example {example!r}; "
        f"a metric must return a score for every prediction (return 0.0 when it cannot score)",
        path=path,
        line=line,
    )
