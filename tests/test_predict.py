"""Predictors: calls, validation, the parse retry, traces and parameters."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Literal

import castlm as cl
import pytest
from castlm import ConfigurationError, InputError, ParseError
from castlm.lm._lm import Message
from castlm.testing import ScriptedLM


class Triage(cl.Signature):
    """Route the ticket."""

    ticket: str = cl.InputField()
    category: Literal["billing", "bug"] = cl.OutputField()
    urgent: bool = cl.OutputField()


REPLY = "[[ ## category ## ]]\nbug\n\n[[ ## urgent ## ]]\nfalse\n\n[[ ## completed ## ]]"
COT_REPLY = "[[ ## reasoning ## ]]\nIt crashes.\n\n" + REPLY


def test_call_returns_a_typed_signature_instance() -> None:
    predict = cl.Predict(Triage, lm=ScriptedLM([REPLY]))
    result = predict(ticket="app crashes")
    assert isinstance(result, Triage)
    assert (result.ticket, result.category, result.urgent) == ("app crashes", "bug", False)


def test_chain_of_thought_adds_leading_reasoning() -> None:
    lm = ScriptedLM([COT_REPLY])
    result = cl.ChainOfThought(Triage, lm=lm)(ticket="app crashes")
    assert isinstance(result, Triage)
    assert result.reasoning == "It crashes."  # type: ignore[attr-defined]
    system = lm.requests[0].messages[0]["content"]
    assert system.index("`reasoning`") < system.index("`category`")


def test_chain_of_thought_keeps_a_declared_reasoning_field() -> None:
    class Reasoned(cl.Signature):
        q: str = cl.InputField()
        answer: str = cl.OutputField()
        reasoning: str = cl.OutputField()

    assert cl.ChainOfThought(Reasoned).signature is Reasoned


def test_unparseable_reply_is_retried_once_with_the_error_shown() -> None:
    lm = ScriptedLM(["gibberish", REPLY])
    result = cl.Predict(Triage, lm=lm)(ticket="x")
    assert result.category == "bug"
    retry = lm.requests[1].messages
    assert retry[-2] == {"role": "assistant", "content": "gibberish"}
    assert retry[-1]["content"].startswith("Your reply could not be read")


def test_second_parse_failure_raises_with_raw_reply() -> None:
    lm = ScriptedLM(["gibberish", "still gibberish"])
    with pytest.raises(ParseError) as info:
        cl.Predict(Triage, lm=lm)(ticket="x")
    assert info.value.raw == "still gibberish"
    assert "Triage" in str(info.value)


def test_input_errors_name_the_field() -> None:
    predict = cl.Predict(Triage, lm=ScriptedLM([REPLY]))
    with pytest.raises(InputError, match="did you mean 'ticket'"):
        predict(tikcet="x")
    with pytest.raises(InputError, match="ticket"):
        predict()
    with pytest.raises(InputError, match="ticket"):
        predict(ticket=["not", "a", "string"])


def test_missing_lm_says_how_to_configure_one() -> None:
    with pytest.raises(ConfigurationError, match=r"castlm\.context"):
        cl.Predict(Triage)(ticket="x")


def test_context_lm_is_used_and_is_context_local() -> None:
    predict = cl.Predict(Triage)
    with cl.context(lm=ScriptedLM([REPLY])):
        assert predict(ticket="x").category == "bug"
    with pytest.raises(ConfigurationError):
        predict(ticket="x")


def test_prefix_is_rendered_once_per_parameter_set() -> None:
    predict = cl.Predict(Triage, lm=ScriptedLM([REPLY] * 3))
    first = predict.prefix()
    predict(ticket="a")
    assert predict.prefix() is first
    predict.instructions = "New instructions."
    assert predict.prefix() is not first
    assert predict.prefix()[0]["content"].endswith("New instructions.")


def test_params_roundtrip_and_demos_are_plain_data() -> None:
    predict = cl.Predict(Triage)
    predict.demos = [{"ticket": "t", "category": "bug", "urgent": False, "unknown": 1}]
    assert predict.demos == ({"ticket": "t", "category": "bug", "urgent": False},)
    params = predict.params
    predict.reset()
    assert predict.demos == () and predict.instructions == "Route the ticket."
    predict.params = params
    assert predict.params == params


def test_trace_records_calls_in_order() -> None:
    predict = cl.Predict(Triage, lm=ScriptedLM([REPLY, REPLY]))
    with cl.trace() as steps:
        predict(ticket="a")
        predict(ticket="b")
    assert [s.inputs["ticket"] for s in steps] == ["a", "b"]
    assert steps[0].outputs == {"category": "bug", "urgent": False}
    assert steps[0].messages[-1]["content"].startswith("[[ ## ticket ## ]]\na")


def test_traces_of_threads_do_not_mix() -> None:
    predict = cl.Predict(Triage, lm=ScriptedLM(lambda _m: REPLY))
    seen: dict[str, list[str]] = {}

    def worker(name: str) -> None:
        with cl.trace() as steps:
            for i in range(20):
                predict(ticket=f"{name}-{i}")
        seen[name] = [s.inputs["ticket"] for s in steps]

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("a", "b", "c")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name, tickets in seen.items():
        assert tickets == [f"{name}-{i}" for i in range(20)]


def test_async_calls_and_task_local_traces() -> None:
    def reply(_messages: Sequence[Message]) -> str:
        return REPLY

    predict = cl.Predict(Triage, lm=ScriptedLM(reply))

    async def one(name: str) -> list[str]:
        with cl.trace() as steps:
            for i in range(5):
                await predict.acall(ticket=f"{name}{i}")
                await asyncio.sleep(0)
        return [s.inputs["ticket"] for s in steps]

    async def main() -> list[list[str]]:
        return list(await asyncio.gather(one("x"), one("y")))

    x, y = asyncio.run(main())
    assert x == [f"x{i}" for i in range(5)] and y == [f"y{i}" for i in range(5)]


def test_cache_is_used_unless_disabled() -> None:
    from castlm.lm._cache import LMCache

    lm = ScriptedLM(lambda _m: REPLY, cache=LMCache())
    predict = cl.Predict(Triage, lm=lm)
    predict(ticket="same")
    predict(ticket="same")
    assert (lm.stats.calls, lm.stats.cache_hits) == (1, 1)
    with cl.context(cache=False):
        predict(ticket="same")
    assert lm.stats.calls == 2


def test_reasoning_of_reads_a_chain_of_thought_result_and_names_a_plain_one() -> None:
    thought = cl.ChainOfThought(Triage, lm=ScriptedLM([COT_REPLY]))(ticket="it crashes")
    plain = cl.Predict(Triage, lm=ScriptedLM([REPLY]))(ticket="it crashes")
    assert cl.reasoning_of(thought) == "It crashes."
    with pytest.raises(cl.CastlmError, match="Triage has no reasoning: only the results of"):
        cl.reasoning_of(plain)
    with pytest.raises(cl.CastlmError, match="Triage has no trajectory"):
        cl.trajectory_of(thought)
