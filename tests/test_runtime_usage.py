"""Usage and cost: per call, per predictor, per program call and per batch."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import types
from collections.abc import Iterator, Sequence

import castlm as cl
import pytest
from castlm import ConfigurationError, FallbackLM, Ok, track_usage
from castlm.lm._lm import Message
from castlm.observe._pricing import forget_litellm_prices
from castlm.observe._usage import NO_PREDICTOR
from castlm.testing import ScriptedLM

REPLY = "[[ ## answer ## ]]\nyes\n\n[[ ## completed ## ]]"


class Route(cl.Signature):
    """Route."""

    text: str = cl.InputField()
    answer: str = cl.OutputField()


class Answer(cl.Signature):
    """Answer."""

    text: str = cl.InputField()
    answer: str = cl.OutputField()


class Pipeline(cl.Module):
    def __init__(self) -> None:
        self.route = cl.Predict(Route)
        self.steps = [cl.Predict(Answer), cl.Predict(Answer)]

    def forward(self, text: str) -> str:
        self.route(text=text)
        return "".join(step(text=text).answer for step in self.steps)


def reply(messages: Sequence[Message]) -> str:
    return REPLY


@pytest.fixture(autouse=True)
def _prices() -> Iterator[None]:
    cl.set_prices({}, replace=True)
    forget_litellm_prices()
    yield
    cl.set_prices({}, replace=True)
    forget_litellm_prices()


def lm(model: str = "gpt-4o-mini-2024-07-18", **kwargs: object) -> ScriptedLM:
    # ScriptedLM counts a token per 4 characters: prompts here are ~300 tokens, replies 11.
    return ScriptedLM(reply, model=model, **kwargs)  # type: ignore[arg-type]


def test_usage_per_predictor_and_per_model_with_costs() -> None:
    cl.set_prices({"gpt-4o-mini": (0.15, 0.60), "openai/big": (2.5, 10.0)})
    program = Pipeline()
    program.set_lm(lm())
    program.steps[1].lm = lm("openai/big")
    with track_usage() as usage:
        program(text="hello")
    total = usage.total
    assert total.calls == 3 and total.cache_hits == 0 and not total.unpriced_models
    by_path = usage.by_predictor(program)
    assert set(by_path) == {"route", "steps.0", "steps.1"}
    assert set(usage.by_predictor()) == {"Route", "Answer"}
    by_model = usage.by_model()
    small, big = by_model["gpt-4o-mini-2024-07-18"], by_model["openai/big"]
    assert small.cost == pytest.approx(
        (small.prompt_tokens * 0.15 + small.completion_tokens * 0.60) / 1e6
    )
    assert big.cost == pytest.approx((big.prompt_tokens * 2.5 + big.completion_tokens * 10) / 1e6)
    assert total.cost == pytest.approx(small.cost + big.cost)
    assert usage.records[0].signature == "Route"


def test_cache_hits_cost_nothing_and_unknown_prices_are_listed() -> None:
    predict = cl.Predict(Route, lm=lm("mystery", cache=cl.LMCache()))
    with track_usage() as usage:
        predict(text="a")
        predict(text="a")
    assert (usage.total.calls, usage.total.cache_hits) == (1, 1)
    assert usage.total.unpriced_models == frozenset({"mystery"}) and usage.total.cost == 0.0


def test_reports_nest_and_batches_report_per_input_and_in_total() -> None:
    cl.set_prices({"gpt-4o-mini": (1.0, 1.0)})
    predict = cl.Predict(Route, lm=lm())
    with track_usage() as outer:
        result = predict.batch([{"text": "x" * n} for n in range(1, 9)], concurrency=4)
        with track_usage() as inner:
            predict(text="one more")
    per_input = [o.usage.total for o in result if isinstance(o, Ok)]
    assert [u.calls for u in per_input] == [1] * 8
    assert per_input[7].prompt_tokens > per_input[0].prompt_tokens  # each its own input
    assert result.usage.total.calls == 8
    assert result.usage.total.cost == pytest.approx(sum(u.cost for u in per_input))
    assert inner.total.calls == 1 and outer.total.calls == 9


def test_asyncio_tasks_report_to_the_block_that_started_them() -> None:
    program = Pipeline()
    program.set_lm(lm())

    async def main() -> tuple[int, int]:
        with track_usage() as first:
            await asyncio.gather(*(program.acall(text=str(i)) for i in range(3)))
        with track_usage() as second:
            await program.acall(text="x")
        return first.total.calls, second.total.calls

    assert asyncio.run(main()) == (9, 3)


def test_direct_lm_calls_and_fallback_streams_are_attributed() -> None:
    primary = ScriptedLM([], model="down")
    predict = cl.Predict(Route, lm=FallbackLM([primary, lm()]))
    with track_usage() as usage:
        list(predict.stream(text="a"))
        direct = lm("direct")
        direct.complete(direct.request([{"role": "user", "content": "hi"}]))
    assert set(usage.by_predictor()) == {"Route", NO_PREDICTOR}
    assert usage.by_predictor()["Route"].calls == 1


def test_prices_come_from_litellm_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("litellm")
    fake.model_cost = {  # type: ignore[attr-defined]
        "claude-x": {"input_cost_per_token": 3e-6, "output_cost_per_token": 15e-6}
    }
    monkeypatch.setitem(sys.modules, "litellm", fake)
    assert cl.price_of("anthropic/claude-x") == pytest.approx((3.0, 15.0))
    assert cl.cost_of("claude-x", 1_000_000, 0) == pytest.approx(3.0)
    cl.set_prices({"claude-x": (1.0, 1.0)})
    assert cl.price_of("claude-x") == (1.0, 1.0)  # the application's table wins
    assert cl.price_of("unknown") is None


def test_bad_prices_are_rejected() -> None:
    with pytest.raises(ConfigurationError, match="per million"):
        cl.set_prices({"m": "cheap"})  # type: ignore[dict-item]
    with pytest.raises(ConfigurationError, match="negative"):
        cl.set_prices({"m": (-1.0, 0.0)})


def test_litellm_s_prices_are_read_without_importing_litellm() -> None:
    # Importing litellm takes seconds and, offline, waits on retries of a GitHub download of
    # the same table: a compile against a local server must not pay for either.
    pytest.importorskip("litellm")
    probe = (
        "import sys, castlm; "
        "print(castlm.price_of('gpt-4o-mini') is None, 'litellm' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k != "LITELLM_LOCAL_MODEL_COST_MAP"}
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.split() == ["False", "False"]  # a price, and no import
