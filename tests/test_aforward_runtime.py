"""Module.acall without aforward runs forward's async twin: LM calls on the event loop."""

from __future__ import annotations

import asyncio
import threading
import traceback
from typing import Any

import castlm as cl
import pytest
from castlm import LMRequest, LMResponse
from castlm.core._aforward import twin
from castlm.testing import StandInLM


class Step(cl.Signature):
    """Answer."""

    question: str = cl.InputField()
    answer: str = cl.OutputField()


class LoopLM(StandInLM):
    """A stand-in whose async path never leaves the event loop's thread (it fails otherwise)."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[str] = set()
        self.in_flight = 0
        self.most_in_flight = 0

    async def _asend(self, request: LMRequest) -> LMResponse:
        self.threads.add(threading.current_thread().name)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.01)
        self.in_flight -= 1
        return self._send(request)


@cl.blocking
def lookup(key: str) -> str:
    return f"{key}:{threading.current_thread().name}"


def shout(text: str) -> str:
    return text.upper()


class Inner(cl.Module):
    def __init__(self) -> None:
        self.step = cl.Predict(Step)

    def forward(self, question: str) -> Step:
        return self.step(question=question)


class Pipeline(cl.Module):
    def __init__(self) -> None:
        self.first = cl.Predict(Step)
        self.hops = [cl.Predict(Step), cl.ChainOfThought(Step)]
        self.inner = Inner()

    def forward(self, question: str) -> dict[str, Any]:
        answer = self.first(question=shout(question)).answer
        for hop in self.hops:
            answer = hop(question=answer).answer
        nested = [self.inner(question=q).answer for q in (question, answer)]
        return {"answer": answer, "nested": nested, "found": lookup(question)}


def test_acall_runs_the_twin_without_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_threads(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a thread was used on the async path")

    monkeypatch.setattr(asyncio, "to_thread", no_threads)
    lm = LoopLM()
    program = Pipeline()
    program.set_lm(lm)

    async def main() -> dict[str, Any]:
        return await program.acall(question="why?")  # type: ignore[no-any-return]

    result = asyncio.run(main())
    assert lm.threads == {threading.main_thread().name}
    assert lm.stats.calls == 5
    assert result["found"].startswith("why?:castlm-blocking")  # the marked function's pool


def test_the_twin_gives_what_forward_gives() -> None:
    program = Pipeline()
    program.set_lm(StandInLM())
    sync = program(question="how many?")

    async def main() -> dict[str, Any]:
        return await program.acall(question="how many?")  # type: ignore[no-any-return]

    got = asyncio.run(main())
    assert {k: v for k, v in got.items() if k != "found"} == {
        k: v for k, v in sync.items() if k != "found"
    }


def test_abatch_of_a_module_runs_its_inputs_concurrently_on_the_loop() -> None:
    lm = LoopLM()
    program = Inner()
    program.set_lm(lm)
    inputs = [{"question": f"q{i}"} for i in range(20)]
    result = asyncio.run(program.abatch(inputs, concurrency=10))
    assert len(result.values()) == 20
    assert lm.most_in_flight == 10  # ten calls in flight at once, no executor in between
    assert lm.threads == {threading.main_thread().name}


class Generator(cl.Module):
    def __init__(self) -> None:
        self.step = cl.Predict(Step)

    def forward(self, question: str) -> Any:
        yield self.step(question=question)


class Nested(cl.Module):
    def __init__(self) -> None:
        self.step = cl.Predict(Step)

    def forward(self, question: str) -> list[str]:
        return list(map(lambda q: self.step(question=q).answer, [question]))


class Dynamic(cl.Module):
    def __init__(self) -> None:
        self.step = cl.Predict(Step)

    def forward(self, question: str) -> Step:
        name = "step"
        return getattr(self, name)(question=question)  # type: ignore[no-any-return]


class Helper(cl.Module):
    def __init__(self) -> None:
        self.step = cl.Predict(Step)

    def forward(self, question: str) -> Step:
        return self._ask(question)

    def _ask(self, question: str) -> Step:
        return self.step(question=question)


class PlainHelper(cl.Module):
    def __init__(self) -> None:
        self.step = cl.Predict(Step)

    def forward(self, question: str) -> Step:
        return self.step(question=self._clean(question))

    def _clean(self, question: str) -> str:
        return question.strip()


@pytest.mark.parametrize("kind", [Generator, Nested, Dynamic, Helper])
def test_forwards_that_cannot_be_made_async_keep_their_thread(kind: type[cl.Module]) -> None:
    assert twin(kind()) is None


def test_unsafe_forward_still_runs_through_acall() -> None:
    program = Helper()
    program.set_lm(StandInLM())
    result = asyncio.run(program.acall(question="x"))
    assert isinstance(result, Step)


def test_a_plain_helper_method_does_not_stop_the_twin() -> None:
    program = PlainHelper()
    assert twin(program) is not None
    program.set_lm(StandInLM())
    assert asyncio.run(program.acall(question=" x ")).question == "x"


def test_errors_in_the_twin_point_at_the_lines_of_forward() -> None:
    class Broken(cl.Module):
        def __init__(self) -> None:
            self.step = cl.Predict(Step)

        def forward(self, question: str) -> Step:
            answer = self.step(question=question)
            raise ValueError(answer.answer)

    program = Broken()
    program.set_lm(StandInLM())
    with pytest.raises(ValueError) as caught:
        asyncio.run(program.acall(question="x"))
    last = traceback.extract_tb(caught.value.__traceback__)[-1]
    assert (last.filename, last.name) == (__file__, "aforward")
    assert last.line == "raise ValueError(answer.answer)"
