"""Async calls and batches: order kept, failures kept with their input, bounded concurrency."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import Any

import castlm as cl
import pytest
from castlm import ConfigurationError, Err, InputError, LMError, Ok
from castlm.lm._lm import Message
from castlm.testing import ScriptedLM


class Echo(cl.Signature):
    """Repeat the number."""

    n: int = cl.InputField()
    same: int = cl.OutputField()


def echo_reply(messages: Sequence[Message]) -> str:
    n = int(messages[-1]["content"].split("\n")[1])
    if n % 7 == 3:
        raise LMError(f"input {n} is cursed")
    return f"[[ ## same ## ]]\n{n}\n\n[[ ## completed ## ]]"


class Twice(cl.Module):
    def __init__(self) -> None:
        self.first = cl.Predict(Echo)
        self.second = cl.Predict(Echo)

    def forward(self, n: int) -> int:
        return self.first(n=n).same + self.second(n=n).same


class AsyncTwice(Twice):
    async def aforward(self, n: int) -> int:
        a, b = await asyncio.gather(self.first.acall(n=n), self.second.acall(n=n))
        return a.same + b.same


def inputs(count: int) -> list[dict[str, Any]]:
    return [{"n": i} for i in range(count)]


def check(result: cl.BatchResult[Any], count: int, expect: Any) -> None:
    assert len(result) == count
    for i, outcome in enumerate(result):
        if i % 7 == 3:
            assert isinstance(outcome, Err) and "cursed" in str(outcome.error)
        else:
            assert isinstance(outcome, Ok) and outcome.value == expect(i)


def test_batch_keeps_order_and_every_failure() -> None:
    predict = cl.Predict(Echo, lm=ScriptedLM(echo_reply))
    result = cl.batch(predict, inputs(50), concurrency=8)
    check(result, 50, lambda i: Echo(n=i, same=i))
    assert [i for i, _ in result.errors()] == [i for i in range(50) if i % 7 == 3]
    with pytest.raises(LMError, match="input 3 is cursed"):
        result.values()


def test_abatch_on_a_predictor_and_its_methods() -> None:
    predict = cl.Predict(Echo, lm=ScriptedLM(echo_reply))
    result = asyncio.run(predict.abatch(inputs(30), concurrency=4))
    check(result, 30, lambda i: Echo(n=i, same=i))
    again = predict.batch(inputs(30), concurrency=4)
    assert [o.ok for o in again] == [o.ok for o in result]


@pytest.mark.parametrize("program_class", [Twice, AsyncTwice])
def test_modules_with_and_without_aforward(program_class: type[Twice]) -> None:
    program = program_class()
    program.set_lm(ScriptedLM(echo_reply))
    assert asyncio.run(program.acall(n=5)) == 10
    result = asyncio.run(program.abatch(inputs(20), concurrency=5))
    check(result, 20, lambda i: 2 * i)
    check(program.batch(inputs(20), concurrency=5), 20, lambda i: 2 * i)


def test_concurrency_is_bounded_in_threads() -> None:
    active = peak = 0
    lock = threading.Lock()

    def work(n: int) -> int:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.005)
        with lock:
            active -= 1
        return n

    result = cl.batch(work, inputs(40), concurrency=4)
    assert result.values() == list(range(40))
    assert peak <= 4


def test_concurrency_is_bounded_in_tasks_and_plain_callables_work() -> None:
    active = peak = 0

    async def work(n: int) -> int:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.001)
        active -= 1
        return n * 2

    result = asyncio.run(cl.abatch(work, inputs(40), concurrency=6))
    assert result.values() == [2 * i for i in range(40)] and peak == 6
    threaded = asyncio.run(cl.abatch(lambda n: n + 1, inputs(5), concurrency=2))
    assert threaded.values() == [1, 2, 3, 4, 5]


def test_bad_inputs_become_errors_and_bad_settings_raise() -> None:
    predict = cl.Predict(Echo, lm=ScriptedLM(echo_reply))
    result = cl.batch(predict, [{"n": 1}, "oops", {"m": 2}], concurrency=2)  # type: ignore[list-item]
    assert isinstance(result[0], Ok)
    assert isinstance(result[1], Err) and isinstance(result[1].error, InputError)
    assert isinstance(result[2], Err) and isinstance(result[2].error, InputError)
    with pytest.raises(ConfigurationError):
        cl.batch(predict, inputs(2), concurrency=0)
    with pytest.raises(InputError):
        cl.batch(predict, {"n": 1}, concurrency=1)  # type: ignore[arg-type]
    assert len(cl.batch(predict, [])) == 0


def test_batch_runs_inputs_in_the_callers_context() -> None:
    predict = cl.Predict(Echo)  # no LM of its own: it must come from the context
    with cl.context(lm=ScriptedLM(echo_reply)):
        result = predict.batch(inputs(4), concurrency=2)
    assert [o.ok for o in result] == [True, True, True, False]
