"""A metric gets ``trace=None`` when evaluating and the trace only while bootstrapping, as in
DSPy, so ``if trace is None:`` metrics (lenient score vs strict acceptance) work."""

from __future__ import annotations

from typing import Any

import castlm as cl
from castlm.compiler.evaluate import Evaluator
from castlm.compiler.optimizers import OptimizeContext, make_optimizer
from castlm.testing import StandInLM


class Echo(cl.Signature):
    """Repeat the text."""

    text: str = cl.InputField()
    echoed: str = cl.OutputField()


class Program(cl.Module):
    def __init__(self) -> None:
        self.echo = cl.Predict(Echo)

    def forward(self, text: str) -> Echo:
        return self.echo(text=text)


TRAIN = [cl.Example(text=f"row {i}", echoed=f"row {i}").with_inputs("text") for i in range(4)]
traces: list[Any] = []


def lenient_then_strict(example: cl.Example, pred: Any, trace: Any = None) -> float:
    traces.append(trace)
    if trace is None:  # evaluation: a soft score
        return 0.5
    return 1.0  # bootstrapping: accept the run


def test_evaluation_passes_no_trace_and_bootstrapping_does() -> None:
    traces.clear()
    program = Program()
    program.set_lm(StandInLM())
    result = Evaluator(lenient_then_strict)(program, TRAIN)
    assert result.score == 50.0 and traces == [None] * len(TRAIN)
    traces.clear()
    evaluator = Evaluator(lenient_then_strict)
    ctx = OptimizeContext(StandInLM(), evaluator, lenient_then_strict)
    bootstrap = make_optimizer("bootstrap", {"max_bootstrapped_demos": 2, "max_labeled_demos": 0})
    compiled = bootstrap.compile(program, trainset=TRAIN, valset=TRAIN, ctx=ctx)
    assert any(t is not None for t in traces)  # the teacher's runs were judged with a trace
    assert len(compiled.params["echo"].demos) == 2  # accepted by the strict branch


class Twice(cl.Module):
    """Calls its one predictor twice per run."""

    def __init__(self) -> None:
        self.echo = cl.Predict(Echo)

    def forward(self, text: str) -> Echo:
        self.echo(text=f"{text} (draft)")
        return self.echo(text=text)


def test_a_predictor_called_twice_gives_one_demo_per_example() -> None:
    """DSPy takes one demo per predictor per accepted example, so 2 demos come from 2
    distinct examples; castlm used to take every call (2 demos from 1 example)."""
    program = Twice()
    program.set_lm(StandInLM())
    ctx = OptimizeContext(StandInLM(), Evaluator(lenient_then_strict), lenient_then_strict)
    bootstrap = make_optimizer("bootstrap", {"max_bootstrapped_demos": 2, "max_labeled_demos": 0})
    demos = bootstrap.compile(program, trainset=TRAIN, valset=TRAIN, ctx=ctx).params["echo"].demos
    texts = [str(d["text"]).removesuffix(" (draft)") for d in demos]
    assert len(demos) == 2 and len(set(texts)) == 2
