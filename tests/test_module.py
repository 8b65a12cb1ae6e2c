"""Modules: predictor naming, parameters, copies and LM assignment."""

from __future__ import annotations

import castlm as cl
import pytest
from castlm import ConfigurationError, PredictorParams
from castlm.testing import ScriptedLM


class QA(cl.Signature):
    question: str = cl.InputField()
    answer: str = cl.OutputField()


class Inner(cl.Module):
    def __init__(self) -> None:
        self.route = cl.Predict(QA)

    def forward(self, question: str) -> QA:
        return self.route(question=question)


class Outer(cl.Module):
    def __init__(self) -> None:
        self.first = cl.ChainOfThought(QA)
        self.hops = [cl.Predict(QA) for _ in range(2)]
        self.experts = {"math": cl.Predict(QA), "law": cl.Predict(QA)}
        self.stage = Inner()
        self._private = cl.Predict(QA)
        self.alias = self.first  # the same predictor twice is named once

    def forward(self, question: str) -> QA:
        return self.stage(question=self.first(question=question).answer)  # type: ignore[no-any-return]


def test_named_predictors_are_stable_dotted_names() -> None:
    names = [n for n, _ in Outer().named_predictors()]
    assert names == ["first", "hops.0", "hops.1", "experts.math", "experts.law", "stage.route"]


def test_set_params_by_name_and_unknown_names_fail() -> None:
    program = Outer()
    program.set_params({"hops.1": PredictorParams("Hop.", ({"question": "q", "answer": "a"},))})
    assert program.predictor("hops.1").instructions == "Hop."
    with pytest.raises(ConfigurationError, match=r"did you mean 'hops\.1'"):
        program.set_params({"hops.2x": PredictorParams("x")})


def test_deepcopy_separates_params_but_shares_lm() -> None:
    lm = ScriptedLM([])
    program = Outer()
    program.set_lm(lm)
    clone = program.deepcopy()
    clone.predictor("first").instructions = "Changed."
    assert program.predictor("first").instructions != "Changed."
    assert clone.predictor("stage.route").lm is lm


def test_forward_runs_through_call() -> None:
    lm = ScriptedLM(
        lambda m: (
            "[[ ## reasoning ## ]]\nr\n[[ ## answer ## ]]\n42"
            if "reasoning" in m[0]["content"]
            else "[[ ## answer ## ]]\nfinal"
        )
    )
    program = Outer()
    program.set_lm(lm)
    assert program(question="q").answer == "final"


def test_get_params_lists_every_predictor() -> None:
    params = Outer().get_params()
    assert set(params) == {
        "first",
        "hops.0",
        "hops.1",
        "experts.math",
        "experts.law",
        "stage.route",
    }
