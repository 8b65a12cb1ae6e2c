"""cl.Parallel: a module over many inputs inside a program, concurrently, results in order,
errors per input."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import castlm as cl
import pytest
from castlm.testing import ScriptedLM


class Echo(cl.Signature):
    """Repeat the text."""

    text: str = cl.InputField()
    echo: str = cl.OutputField()


def echo_lm() -> ScriptedLM:
    def reply(messages: Any) -> str:
        if any("boom" in m["content"] for m in messages):
            return "not a reply"  # twice: the retry fails too
        text = messages[-1]["content"].split("\n")[1]
        return f"[[ ## echo ## ]]\n{text}!\n\n[[ ## completed ## ]]"

    return ScriptedLM(reply)


class Fanout(cl.Module):
    def __init__(self) -> None:
        self.each = cl.Parallel(cl.Predict(Echo), concurrency=4)

    def forward(self, texts: list[str]) -> list[str]:
        results = self.each([{"text": t} for t in texts])
        return [r.value.echo if r.ok else f"failed: {type(r.error).__name__}" for r in results]


def test_results_come_back_in_input_order_with_errors_per_input() -> None:
    program = Fanout()
    program.set_lm(echo_lm())
    texts = [f"t{i}" for i in range(12)]
    assert program(texts=texts) == [f"t{i}!" for i in range(12)]
    assert program(texts=["a", "boom", "c"]) == ["a!", "failed: ParseError", "c!"]
    assert [n for n, _ in program.named_predictors()] == ["each.module"]


def test_inputs_run_concurrently_up_to_the_limit() -> None:
    running = 0
    peak = 0
    lock = threading.Lock()

    def work(n: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return n * 2

    fan: cl.Parallel[int] = cl.Parallel(work, concurrency=3)
    result = fan([{"n": n} for n in range(9)])
    assert result.values() == [n * 2 for n in range(9)]
    assert 1 < peak <= 3


def test_the_wrapped_predictor_is_shared_when_it_is_an_attribute_too() -> None:
    class Shared(cl.Module):
        def __init__(self) -> None:
            self.answer = cl.Predict(Echo)
            self.many = cl.Parallel(self.answer)

        def forward(self, text: str) -> Echo:
            return self.answer(text=text)

    assert [n for n, _ in Shared().named_predictors()] == ["answer"]


def test_async_runs_acall_on_the_module() -> None:
    fan = cl.Parallel(cl.Predict(Echo), concurrency=2)
    fan.set_lm(echo_lm())
    result = asyncio.run(fan.acall([{"text": "x"}, {"text": "boom"}, {"text": "y"}]))
    assert [o.ok for o in result] == [True, False, True]
    assert result[0].value.echo == "x!"  # type: ignore[union-attr]
    assert [i for i, _ in result.errors()] == [1]


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(cl.ConfigurationError):
        cl.Parallel(cl.Predict(Echo), concurrency=0)
    fan = cl.Parallel(cl.Predict(Echo))
    with pytest.raises(cl.InputError):
        fan({"text": "not a list"})  # type: ignore[arg-type]
