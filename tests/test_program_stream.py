"""Streaming whole programs: every inner predictor's fields, tool statuses, then the result.

The pipeline and agent examples run unchanged over a local OpenAI-compatible SSE server;
consumers that stop early cancel the program and close the HTTP stream.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import castlm as cl
import pytest
from castlm import FieldDelta, Finished, PredictorDone, ProgramEvent, Status
from castlm.compiler.loader import import_program
from castlm.testing import ScriptedLM
from support.clients import close_all, openai_lm
from support.fake_openai import FakeOpenAI, Fault
from test_react import QA, calculator, completion, final, step
from test_sandbox import SANDBOX, Sum, sections

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PIPELINE = import_program(EXAMPLES / "pipeline" / "program.py")


def _import_agent() -> Any:
    """The agent example, without leaving its ``tools`` module importable by that name
    (other tests compile programs of their own that import a ``tools``)."""
    path, had_tools = list(sys.path), "tools" in sys.modules
    try:
        return import_program(EXAMPLES / "agent" / "program.py")
    finally:
        sys.path[:] = path
        if not had_tools:
            sys.modules.pop("tools", None)


AGENT = _import_agent()

FACTS = "[[ ## issue ## ]]\ndamaged\n\n[[ ## wants ## ]]\nrefund\n\n[[ ## item ## ]]\nblue mug"
DECISION = (
    "[[ ## reasoning ## ]]\nA damaged item and a refund request: the policy refunds.\n\n"
    "[[ ## action ## ]]\nrefund\n\n[[ ## reply ## ]]\nSorry about the mug; we refunded you."
)
EMAIL = "My blue mug arrived in pieces. I want my money back."


def desk_reply(body: dict[str, Any]) -> str:
    """The pipeline's replies: facts for ReadEmail, a decision for ChooseAction."""
    system = str(body["messages"][0]["content"])
    return (DECISION if "returns policy" in system else FACTS) + "\n\n[[ ## completed ## ]]"


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    close_all()


def desk(server: FakeOpenAI, **options: Any) -> Any:
    program = PIPELINE.SupportDesk()
    program.set_lm(openai_lm(base_url=server.base_url, api_key="k", **options))
    return program


def texts(events: Sequence[ProgramEvent[Any]]) -> dict[tuple[str, str], str]:
    joined: dict[tuple[str, str], str] = {}
    for event in events:
        if isinstance(event, FieldDelta):
            key = (event.predictor, event.field)
            joined[key] = joined.get(key, "") + event.delta
    return joined


async def collect(stream: AsyncIterator[ProgramEvent[Any]]) -> list[ProgramEvent[Any]]:
    return [event async for event in stream]


# -- the pipeline example ------------------------------------------------------------------
def test_the_pipeline_streams_each_predictors_fields_then_its_result() -> None:
    with FakeOpenAI(reply=desk_reply, stream_chunk_chars=5) as server:
        program = desk(server)
        events = asyncio.run(collect(program.astream(email=EMAIL)))
        assert all(r.body["stream"] is True for r in server.chat_requests)
    finished = events[-1]
    assert isinstance(finished, Finished)
    assert finished.result.action == "refund"
    assert finished.result.reply == "Sorry about the mug; we refunded you."
    deltas = [e for e in events if isinstance(e, FieldDelta)]
    # Pieces as the server sent them, not one delta per field.
    assert len(deltas) > 10 and max(len(d.delta) for d in deltas) < 12
    assert texts(events) == {
        ("read", "issue"): "damaged",
        ("read", "wants"): "refund",
        ("read", "item"): "blue mug",
        ("decide", "reasoning"): "A damaged item and a refund request: the policy refunds.",
        ("decide", "action"): "refund",
        ("decide", "reply"): "Sorry about the mug; we refunded you.",
    }
    done = [e for e in events if isinstance(e, PredictorDone)]
    assert [d.predictor for d in done] == ["read", "decide"]
    assert done[1].result is finished.result
    # Each predictor's deltas come before its PredictorDone, read's before decide's.
    order = [(e.predictor, type(e).__name__) for e in events if not isinstance(e, Finished)]
    assert order.index(("read", "PredictorDone")) < order.index(("decide", "FieldDelta"))


def test_sync_stream_yields_the_same_events_without_a_thread() -> None:
    with FakeOpenAI(reply=desk_reply, stream_chunk_chars=7) as server:
        program = desk(server)
        threads = set[int]()
        program.read.add_guard(_ThreadSpy(threads))
        events = list(program.stream(email=EMAIL))
        again = list(program.stream(email=EMAIL))  # a second private loop, a second pool
    assert threads == {__import__("threading").get_ident()}
    assert isinstance(events[-1], Finished) and events[-1].result.action == "refund"
    assert texts(events) == texts(again)
    assert texts(events)[("decide", "reply")] == "Sorry about the mug; we refunded you."


class _ThreadSpy(cl.Guard):
    """Records the thread each call of the guarded predictor runs in."""

    def __init__(self, threads: set[int]) -> None:
        self.threads = threads

    def check_inputs(self, predictor: Any, inputs: dict[str, Any]) -> dict[str, Any]:
        self.threads.add(__import__("threading").get_ident())
        return inputs


def test_listen_keeps_only_the_named_outputs_deltas() -> None:
    with FakeOpenAI(reply=desk_reply, stream_chunk_chars=5) as server:
        program = desk(server)
        events = list(program.listen("decide.reply", "read").stream(email=EMAIL))
    assert set(texts(events)) == {
        ("read", "issue"),
        ("read", "wants"),
        ("read", "item"),
        ("decide", "reply"),
    }
    assert [e.predictor for e in events if isinstance(e, PredictorDone)] == ["read", "decide"]
    assert isinstance(events[-1], Finished)


def test_an_unknown_listened_name_is_an_error_before_any_lm_call() -> None:
    with FakeOpenAI(reply=desk_reply) as server:
        program = desk(server)
        with pytest.raises(cl.ConfigurationError) as info:
            program.listen("decide.replies")
        assert server.chat_requests == []
    message = str(info.value)
    assert "'decide.replies'" in message and "did you mean 'decide.reply'" in message
    assert "read.issue" in message and "decide.reasoning" in message


def test_cached_replies_still_stream_one_delta_per_field() -> None:
    with FakeOpenAI(reply=desk_reply, stream_chunk_chars=3) as server:
        program = desk(server, cache=cl.LMCache())
        first = list(program.stream(email=EMAIL))
        cached = list(program.stream(email=EMAIL))
        assert len(server.chat_requests) == 2  # the second run came from the cache
    assert texts(cached) == texts(first)
    assert len([e for e in cached if isinstance(e, FieldDelta)]) == 6


def test_a_failing_call_raises_from_the_stream() -> None:
    with FakeOpenAI(reply=desk_reply) as server:
        server.fail(Fault.status_error(400, "bad model"))
        program = desk(server)
        seen: list[ProgramEvent[Any]] = []
        with pytest.raises(cl.LMStatusError, match="bad model"):
            for event in program.stream(email=EMAIL):
                seen.append(event)
    assert seen == []


# -- cancellation --------------------------------------------------------------------------
def test_stopping_an_async_stream_cancels_the_program_and_closes_the_http_stream() -> None:
    async def first_delta(program: Any, server: FakeOpenAI) -> tuple[FieldDelta, bool]:
        stream = program.astream(email=EMAIL)
        event = await anext(stream)
        # Bounded, because without the cancellation it would wait for the stalled reply.
        await asyncio.wait_for(stream.aclose(), 60)
        # Still inside the event loop: the loop's own shutdown would close it later anyway.
        closed = await asyncio.to_thread(server.disconnected.wait, 30)
        assert isinstance(event, FieldDelta)
        return event, closed

    with FakeOpenAI(reply=desk_reply, stream_chunk_chars=30) as server:
        server.fail(Fault.stalled_stream(after_chunks=1))
        program = desk(server, timeout=600)  # the client never gives up by itself
        event, closed = asyncio.run(first_delta(program, server))
        assert closed
        assert len(server.chat_requests) == 1  # decide never ran
    assert (event.predictor, event.field) == ("read", "issue")


def test_closing_a_sync_stream_cancels_the_program_and_closes_the_http_stream() -> None:
    with FakeOpenAI(reply=desk_reply, stream_chunk_chars=30) as server:
        server.fail(Fault.stalled_stream(after_chunks=1))
        program = desk(server, timeout=600)
        stream = program.stream(email=EMAIL)
        event = next(stream)
        stream.close()
        assert server.disconnected.wait(timeout=30)
        assert len(server.chat_requests) == 1
    assert isinstance(event, FieldDelta) and event.predictor == "read"


def test_stream_inside_a_running_event_loop_says_to_use_astream() -> None:
    program = PIPELINE.SupportDesk()

    async def inside() -> None:
        next(program.stream(email=EMAIL))

    with pytest.raises(cl.ConfigurationError, match="use `async for event in program"):
        asyncio.run(inside())


# -- the agent example ---------------------------------------------------------------------
def test_the_agent_streams_tool_statuses_and_its_answer() -> None:
    with FakeOpenAI(reply=final("The capital is Paris."), stream_chunk_chars=4) as server:
        server.fail(
            completion(calls=[("lookup_country", {"country": "France", "fact": "capital"})]),
            completion(text="I know it now.", calls=[("finish", {})]),
        )
        program = AGENT.Assistant()
        program.set_lm(openai_lm(base_url=server.base_url, api_key="k"))
        events = asyncio.run(collect(program.astream(question="What is France's capital?")))
        streamed = [r.body.get("stream") is True for r in server.chat_requests]
    assert streamed == [False, False, True]  # tool calls are read whole; the answer streams
    statuses = [e for e in events if isinstance(e, Status)]
    assert [(s.predictor, s.tool) for s in statuses] == [("agent.react", "lookup_country")]
    assert statuses[0].message.startswith("calling tool lookup_country with {")
    # The tool-calling steps arrive whole, one delta per field: the consumer code is the same.
    tools = [e.delta for e in events if isinstance(e, FieldDelta) and e.field == "next_tool_name"]
    assert tools == ["lookup_country", "finish"]
    joined = texts(events)
    assert joined[("agent.react", "next_thought")] == "I call lookup_country.I know it now."
    assert joined[("agent.extract", "answer")] == "The capital is Paris."
    extract = [e for e in events if isinstance(e, FieldDelta) and e.field == "answer"]
    assert len(extract) > 1
    done = [e.predictor for e in events if isinstance(e, PredictorDone)]
    assert done == ["agent.react", "agent.react", "agent.extract"]
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.result.answer == "The capital is Paris."
    # The status comes after the step that chose the tool, before the next step.
    kinds = [type(e).__name__ for e in events]
    assert kinds.index("Status") == kinds.index("PredictorDone") + 1


def test_a_text_protocol_agent_streams_its_steps_and_tool_calls() -> None:
    lm = ScriptedLM([step("calculator", {"expression": "6*7"}), step("finish", {}), final("42")])
    agent = cl.ReAct(QA, tools=[calculator])
    agent.set_lm(lm)
    events = list(agent.listen("react.next_tool_name", "extract.answer").stream(question="6x7?"))
    assert [e.message for e in events if isinstance(e, Status)] == [
        'calling tool calculator with {"expression": "6*7"}'
    ]
    assert [(e.predictor, e.delta) for e in events if isinstance(e, FieldDelta)] == [
        ("react", "calculator"),
        ("react", "finish"),
        ("extract", "42"),
    ]
    assert isinstance(events[-1], Finished) and events[-1].result.answer == "42"


# -- forwards castlm cannot make async -----------------------------------------------------
class Twice(cl.Module):
    """Its forward calls a predictor inside a lambda, so it runs in a worker thread."""

    def __init__(self) -> None:
        self.answer = cl.Predict(QA)

    def forward(self, question: str) -> QA:
        ask = lambda q: self.answer(question=q)  # noqa: E731
        ask(question)
        return ask(question + "?")


def test_a_forward_in_a_worker_thread_streams_too() -> None:
    with FakeOpenAI(reply="[[ ## answer ## ]]\nforty-two\n\n[[ ## completed ## ]]") as server:
        program = Twice()
        program.set_lm(openai_lm(base_url=server.base_url, api_key="k"))
        events = list(program.stream(question="6x7"))
        assert len(server.chat_requests) == 2
    deltas = "".join(e.delta for e in events if isinstance(e, FieldDelta))
    assert deltas == "forty-two" * 2
    assert [e.predictor for e in events if isinstance(e, PredictorDone)] == ["answer"] * 2
    assert isinstance(events[-1], Finished) and events[-1].result.answer == "forty-two"


def test_guarded_outputs_arrive_whole_after_the_guard() -> None:
    class Redact(cl.Guard):
        def check_outputs(self, predictor: Any, outputs: dict[str, Any]) -> dict[str, Any]:
            return {**outputs, "reply": "[redacted]"}

    with FakeOpenAI(reply=desk_reply, stream_chunk_chars=3) as server:
        program = desk(server)
        program.decide.add_guard(Redact())
        events = list(program.stream(email=EMAIL))
    replies = [e.delta for e in events if isinstance(e, FieldDelta) and e.field == "reply"]
    assert replies == ["[redacted]"]
    assert isinstance(events[-1], Finished) and events[-1].result.reply == "[redacted]"


class Cancelling(cl.Module):
    """Its run is cancelled from inside (as a timeout or a task group could do)."""

    def __init__(self) -> None:
        self.answer = cl.Predict(QA)

    async def aforward(self, question: str) -> QA:
        raise asyncio.CancelledError

    def forward(self, question: str) -> QA:
        return self.answer(question=question)


def test_a_run_cancelled_from_inside_ends_the_stream_instead_of_hanging() -> None:
    async def consume() -> None:
        with pytest.raises(asyncio.CancelledError):
            # Bounded: the stream used to wait forever for an event that never came.
            await asyncio.wait_for(collect(Cancelling().astream(question="q")), 60)

    asyncio.run(consume())


def test_program_of_thought_streams_a_status_for_each_sandbox_run() -> None:
    lm = ScriptedLM(
        [
            sections(reasoning="Sum them.", generated_code="total(numbers)"),
            sections(reasoning="Use sum.", generated_code="sum(numbers)"),
            sections(reasoning="The code printed it.", total=6),
        ]
    )
    program = cl.ProgramOfThought(Sum, max_iters=2, sandbox=SANDBOX)
    program.set_lm(lm)
    events = list(program.listen("extract.total").stream(numbers=[1, 2, 3]))
    statuses = [(e.predictor, e.message) for e in events if isinstance(e, Status)]
    running = "running the generated code in the sandbox"
    assert statuses == [("generate", running), ("regenerate", running)]
    assert [e.delta for e in events if isinstance(e, FieldDelta)] == ["6"]
    assert isinstance(events[-1], Finished) and events[-1].result.total == 6
