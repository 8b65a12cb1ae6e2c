"""The plan printed before any LM call: probe sizes, calls per phase, prices and costs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import castlm as cl
import pytest
from castlm import Example, LMRequest, LMResponse, Module
from castlm.compiler import pipeline
from castlm.compiler.config import load_config_file
from castlm.compiler.optimizers import OptimizeContext, Optimizer, OptimizeResult, make_optimizer
from castlm.compiler.plan import Plan, PlanInputs, Probe, make_plan, probe
from castlm.compiler.pricing import PriceBook, add_costs, cost
from castlm.observe._pricing import prices, set_prices
from castlm.testing import StandInLM
from support.project import write_project


class Ask(cl.Signature):
    """Answer the question in one word."""

    question: str = cl.InputField()
    answer: str = cl.OutputField()


class Check(cl.Signature):
    """Say whether the answer fits the question."""

    question: str = cl.InputField()
    answer: str = cl.InputField()
    ok: bool = cl.OutputField()


class Chain(cl.Module):
    def __init__(self) -> None:
        self.ask = cl.Predict(Ask)
        self.check = cl.Predict(Check)

    def forward(self, question: str) -> Ask:
        result = self.ask(question=question)
        self.check(question=question, answer=result.answer)
        return result


class Fails(Chain):
    def forward(self, question: str) -> Ask:
        raise RuntimeError("no LM call happens")


EXAMPLES = [
    Example(question=f"What colour is item {i}?", answer="blue").with_inputs("question")
    for i in range(5)
]


def inputs(example: Example) -> dict[str, Any]:
    return example.inputs()


def test_the_probe_counts_calls_per_run_and_measures_prompts() -> None:
    measured = probe(Chain(), EXAMPLES, inputs)
    assert measured.runs == 3 and measured.calls_per_run == 2.0
    assert measured.prompt_chars > 100 and measured.reply_chars > 0
    assert measured.demo_chars > 20  # one demo adds its fields to the prompt
    assert measured.method == "stand-in dry run on 3 training example(s)"


def test_the_probe_neither_uses_nor_changes_the_programs_lm() -> None:
    program = Chain()
    task = StandInLM()
    program.set_lm(task)
    probe(program, EXAMPLES, inputs)
    assert task.stats.calls == 0 and task.stats.cache_hits == 0
    assert all(p.lm is task for p in program.predictors())


def test_a_program_that_fails_before_any_call_gets_a_static_guess() -> None:
    measured = probe(Fails(), EXAMPLES, inputs)
    assert measured.method == "static guess" and measured.calls_per_run == 2


def plan_for(optimizer: Optimizer, **changes: Any) -> Plan:
    measured = Probe(3, 2.0, 400.0, 40.0, 100.0, "test")
    values: dict[str, Any] = {
        "n_predictors": 2,
        "n_train": 10,
        "n_val": 10,
        "n_dev": 5,
        "task_price": (1.0, 2.0),
        "optimize_price": (1.0, 2.0),
        "cache": True,
        "verify": True,
        **changes,
    }
    return make_plan(measured, optimizer, PlanInputs(**values))


def test_phases_follow_the_optimizer_and_the_probe() -> None:
    plan = plan_for(make_optimizer("bootstrap", {"max_labeled_demos": 4}))
    baseline, optimize, compiled, verify = plan.phases
    assert (baseline.calls, optimize.calls, compiled.calls, verify.calls) == (10, 20, 10, 0)
    assert baseline.prompt_tokens == 10 * 100 and baseline.completion_tokens == 10 * 10
    assert compiled.prompt_tokens == 10 * (400 + 4 * 100) // 4  # up to 4 demos
    assert baseline.cost == pytest.approx((1000 * 1.0 + 100 * 2.0) / 1e6)
    assert plan.calls == 40 and plan.optimizer_estimate == "optimizer"
    assert plan.to_json()["demos_per_predictor"] == 4


def test_labeled_plans_no_optimize_calls_and_no_cache_reruns_verify() -> None:
    plan = plan_for(make_optimizer("labeled", {"k": 3}), cache=False)
    assert plan.phase("optimize").calls == 0
    assert plan.phase("verify").calls == 10 and "no cache" in plan.phase("verify").note


class Silent(Optimizer):
    name = "silent"

    def compile(
        self,
        student: Module,
        *,
        trainset: Sequence[Example],
        valset: Sequence[Example],
        ctx: OptimizeContext,
    ) -> OptimizeResult:
        return OptimizeResult(student.get_params())


def test_an_optimizer_without_an_estimate_is_marked_as_a_guess() -> None:
    plan = plan_for(Silent.from_options({}), verify=False)
    assert plan.phase("optimize").calls == (10 + 10) * 2
    assert "guess" in plan.phase("optimize").note and plan.optimizer_estimate == "guess"
    assert [p.name for p in plan.phases] == ["baseline", "optimize", "compiled"]


def test_unknown_prices_make_costs_unknown_never_zero() -> None:
    plan = plan_for(make_optimizer("labeled", {}), task_price=None, optimize_price=None)
    assert plan.phase("baseline").cost is None and plan.cost is None
    assert add_costs(1.0, None) is None and cost(None, 10, 10) is None


def test_budget_warnings_when_the_evaluations_do_not_fit() -> None:
    plan = plan_for(make_optimizer("labeled", {}), max_lm_calls=12, max_cost=0.000001)
    warnings = plan.warnings()
    assert len(warnings) == 2 and "below the ~20 calls" in warnings[0]


@pytest.fixture
def runtime_prices() -> Iterator[None]:
    saved = prices()
    yield
    set_prices(saved, replace=True)


@pytest.mark.usefixtures("runtime_prices")
def test_price_lookup_order() -> None:
    book = PriceBook({"openai/gpt-x": (1.0, 2.0), "bare-model": (3.0, 4.0)})
    assert book.price("openai/gpt-x", "gpt-x") == (1.0, 2.0)  # by configured name
    assert book.price("litellm/openai/bare-model", "openai/bare-model") == (3.0, 4.0)
    assert book.price("standin", "standin") == (0.0, 0.0)
    assert book.price("openai/nobody-prices-this", "nobody-prices-this") is None
    set_prices({"runtime-model": (5.0, 6.0)})
    assert book.price("openai/runtime-model", "runtime-model") == (5.0, 6.0)


class Recording(StandInLM):
    """A stand-in that remembers every request that reached it."""

    seen: ClassVar[list[LMRequest]] = []

    def _send(self, request: LMRequest) -> LMResponse:
        self.seen.append(request)
        return super()._send(request)


def test_the_plan_comes_before_any_lm_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_project(tmp_path / "p", optimizer="labeled")
    (config,) = load_config_file(root / "castlm.toml", {"verify": False, "cache": False})
    monkeypatch.setattr(pipeline, "make_lm", lambda name, **kw: Recording(cache=kw["cache"]))
    Recording.seen.clear()
    seen_at_plan: list[int] = []

    def on_plan(plan: Plan) -> None:
        seen_at_plan.append(len(Recording.seen))

    outcome = pipeline.compile_program(config, force=True, on_plan=on_plan)
    assert seen_at_plan == [0] and len(Recording.seen) == outcome.lm_calls == 12
    planned = outcome.plan
    assert planned is not None
    # The stand-in's sizes are what the probe measured: the plan is close to what happened.
    for name in ("baseline", "compiled"):
        actual = next(p for p in outcome.phases if p.name == name)
        assert planned.phase(name).calls == actual.calls == 6
        assert abs(planned.phase(name).prompt_tokens - actual.prompt_tokens) <= (
            0.25 * actual.prompt_tokens
        )
