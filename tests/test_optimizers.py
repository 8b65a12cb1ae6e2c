"""LabeledFewShot and BootstrapFewShot, with a scripted model we can reason about."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import castlm as cl
import pytest
from castlm.compiler.errors import CompileError
from castlm.compiler.evaluate import Evaluator
from castlm.compiler.optimizers import OptimizeContext, make_optimizer
from castlm.lm._lm import Message
from castlm.testing import ScriptedLM


class Classify(cl.Signature):
    text: str = cl.InputField()
    label: Literal["pos", "neg"] = cl.OutputField()


class Explain(cl.Signature):
    text: str = cl.InputField()
    label: str = cl.InputField()
    why: str = cl.OutputField()


class Program(cl.Module):
    def __init__(self) -> None:
        self.classify = cl.Predict(Classify)
        self.explain = cl.Predict(Explain)

    def forward(self, text: str) -> Classify:
        result = self.classify(text=text)
        self.explain(text=text, label=result.label)
        return result


def model(messages: Sequence[Message]) -> str:
    """Right about 'good'/'bad' texts; always says 'pos' otherwise."""
    last = messages[-1]["content"]
    if "[[ ## label ## ]]\n" in last:  # the explain step has label as an input
        return "[[ ## why ## ]]\nbecause"
    text = re.search(r"\[\[ ## text ## \]\]\n(.*)", last)
    label = "neg" if text and "bad" in text.group(1) else "pos"
    return f"[[ ## label ## ]]\n{label}"


def metric(example: cl.Example, pred: Classify, trace: object = None) -> float:
    return float(pred.label == example.label)


TRAIN = [
    cl.Example(text=f"{word} thing {i}", label=label).with_inputs("text")
    for i, (word, label) in enumerate([("good", "pos"), ("bad", "neg"), ("odd", "neg")] * 4)
]


def context(lm: ScriptedLM, threads: int = 4) -> OptimizeContext:
    return OptimizeContext(lm, Evaluator(metric, threads=threads), metric, threads=threads)


def run(
    name: str, lm: ScriptedLM, threads: int = 4, **options: object
) -> dict[str, cl.PredictorParams]:
    program = Program()
    program.set_lm(lm)
    optimizer = make_optimizer(name, options)
    return optimizer.compile(program, trainset=TRAIN, valset=TRAIN, ctx=context(lm, threads)).params


def test_labeled_samples_usable_examples_per_predictor_without_lm_calls() -> None:
    lm = ScriptedLM(model)
    params = run("labeled", lm, k=3)
    assert lm.stats.calls == 0
    assert len(params["classify"].demos) == 3
    assert all(set(d) == {"text", "label"} for d in params["classify"].demos)
    # explain's output `why` is in no example, so no example can teach it
    assert params["explain"].demos == ()


def test_labeled_draws_are_independent_per_predictor() -> None:
    first = run("labeled", ScriptedLM(model), k=3)["classify"]
    again = run("labeled", ScriptedLM(model), k=3)["classify"]
    assert first == again


def test_bootstrap_keeps_demos_from_accepted_runs_only() -> None:
    lm = ScriptedLM(model)
    params = run("bootstrap", lm, max_bootstrapped_demos=2, max_labeled_demos=0)
    demos = params["classify"].demos
    assert len(demos) == 2
    # "odd" examples fail the metric (model says pos), so they never become demos
    assert all("odd" not in d["text"] for d in demos)
    # every predictor of an accepted run gets a demo, including the explain step
    assert [d["why"] for d in params["explain"].demos] == ["because", "because"]
    assert lm.stats.calls > 0


def test_bootstrap_fills_up_with_labeled_demos() -> None:
    params = run("bootstrap", ScriptedLM(model), max_bootstrapped_demos=2, max_labeled_demos=5)
    assert len(params["classify"].demos) == 5


def test_bootstrap_is_deterministic_across_thread_counts() -> None:
    one = run(
        "bootstrap", ScriptedLM(model), threads=1, max_bootstrapped_demos=3, max_labeled_demos=4
    )
    many = run(
        "bootstrap", ScriptedLM(model), threads=8, max_bootstrapped_demos=3, max_labeled_demos=4
    )
    assert one == many


def test_teacher_never_sees_the_example_it_is_run_on() -> None:
    lm = ScriptedLM(model)
    run("bootstrap", lm, threads=1, max_bootstrapped_demos=12, max_labeled_demos=12)
    for request in lm.requests:
        final = request.messages[-1]["content"]
        shown = [m["content"] for m in request.messages[1:-1] if m["role"] == "user"]
        assert final.split("\n\n")[0] not in shown


def test_later_rounds_sample_hot_with_a_new_rollout() -> None:
    lm = ScriptedLM(model)
    run("bootstrap", lm, threads=2, max_bootstrapped_demos=12, max_labeled_demos=0, max_rounds=2)
    assert {r.rollout for r in lm.requests} == {None, 1}
    assert all(r.temperature == 1.0 for r in lm.requests if r.rollout == 1)


def test_failed_runs_are_counted_not_raised() -> None:
    def flaky(messages: Sequence[Message]) -> str:
        if "bad" in messages[-1]["content"]:
            raise RuntimeError("endpoint hiccup")
        return model(messages)

    program = Program()
    lm = ScriptedLM(flaky)
    program.set_lm(lm)
    result = make_optimizer("bootstrap", {"max_bootstrapped_demos": 2}).compile(
        program, trainset=TRAIN, valset=TRAIN, ctx=context(lm)
    )
    assert any("failed" in note for note in result.notes)


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("bootstrapp", {}, "did you mean 'bootstrap'"),
        ("bootstrap", {"max_demos": 3}, "has no option 'max_demos'"),
        ("bootstrap", {"max_rounds": 0}, "max_rounds"),
        ("labeled", {"k": "many"}, "option k"),
    ],
)
def test_optimizer_option_errors(name: str, options: dict[str, object], message: str) -> None:
    with pytest.raises(CompileError, match=message):
        make_optimizer(name, options)
