"""Streaming: output fields as they arrive, typed when complete, then the validated result."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any, Literal

import castlm as cl
import pytest
from castlm import Done, InputError, Partial
from castlm.core._adapter import CHAT, JSON
from castlm.core._fields_reader import ChatReader, JSONReader
from castlm.testing import ScriptedLM
from support.clients import close_all, openai_lm
from support.fake_openai import FakeOpenAI


class Triage(cl.Signature):
    """Route the ticket."""

    ticket: str = cl.InputField()
    category: Literal["billing", "bug"] = cl.OutputField()
    priority: int = cl.OutputField(ge=1, le=5)
    summary: str = cl.OutputField()


class Tags(cl.Signature):
    """Tag the text."""

    text: str = cl.InputField()
    note: str = cl.OutputField()
    tags: list[str] = cl.OutputField()


CHAT_REPLY = (
    "[[ ## category ## ]]\nbug\n\n[[ ## priority ## ]]\n2\n\n"
    "[[ ## summary ## ]]\nThe app crashes  on start.\n\n[[ ## completed ## ]]"
)
COT_REPLY = "[[ ## reasoning ## ]]\nA crash is a bug.\n\n" + CHAT_REPLY
JSON_REPLY = json.dumps({"note": 'Caf\u00e9 "menu"\nline 2 \U0001f600', "tags": ["food", "fr"]})


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(reply=CHAT_REPLY, stream_chunk_chars=3) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    close_all()


def run(predictor: cl.Predict[Any], **inputs: Any) -> tuple[list[Partial[Any]], Done[Any]]:
    events = list(predictor.stream(**inputs))
    done = events.pop()
    assert isinstance(done, Done) and all(isinstance(e, Partial) for e in events)
    return events, done  # type: ignore[return-value]


def fields_in_order(events: list[Partial[Any]]) -> list[str]:
    order: list[str] = []
    for e in events:
        if not order or order[-1] != e.field:
            order.append(e.field)
    return order


def test_fields_stream_in_order_then_the_validated_result(server: FakeOpenAI) -> None:
    lm = openai_lm("m", base_url=server.base_url)
    events, done = run(cl.Predict(Triage, lm=lm), ticket="crash")
    assert fields_in_order(events) == ["category", "priority", "summary"]
    summary = "".join(e.delta for e in events if e.field == "summary")
    assert summary == "The app crashes  on start." == done.result.summary
    assert events[-1].text["summary"] == summary
    # Complete fields are typed (and validated) while later ones are still arriving.
    first_summary = next(e for e in events if e.field == "summary")
    assert first_summary.values == {"category": "bug", "priority": 2}
    assert (done.result.category, done.result.priority) == ("bug", 2)
    assert done.response.usage.total_tokens > 0


def test_chain_of_thought_streams_its_reasoning_first() -> None:
    with FakeOpenAI(reply=COT_REPLY, stream_chunk_chars=5) as server:
        lm = openai_lm("m", base_url=server.base_url)
        events, done = run(cl.ChainOfThought(Triage, lm=lm), ticket="crash")
    assert fields_in_order(events)[0] == "reasoning"
    assert done.result.reasoning == "A crash is a bug."


def test_json_mode_streams_string_values_decoded() -> None:
    with FakeOpenAI(reply=JSON_REPLY, stream_chunk_chars=2) as server:
        lm = openai_lm("m", base_url=server.base_url, structured_output="json_schema")
        events, done = run(cl.Predict(Tags, lm=lm), text="menu")
        assert "response_format" in server.chat_requests[0].body
    note = "".join(e.delta for e in events if e.field == "note")
    assert note == 'Café "menu"\nline 2 \U0001f600' == done.result.note
    tag_events = [e for e in events if e.field == "tags"]
    assert len(tag_events) == 1 and json.loads(tag_events[0].delta) == ["food", "fr"]
    assert done.result.tags == ["food", "fr"]


def test_a_backend_without_streaming_yields_one_piece_and_cache_hits_too() -> None:
    lm = ScriptedLM([CHAT_REPLY], cache=cl.LMCache())
    predict = cl.Predict(Triage, lm=lm)
    events, done = run(predict, ticket="x")
    assert fields_in_order(events) == ["category", "priority", "summary"]
    again, cached = run(predict, ticket="x")  # the script is used up: this is the cache
    assert [e.delta for e in again] == [e.delta for e in events]
    assert cached.response.cached and cached.result == done.result


def test_an_unreadable_stream_gets_the_parse_retry() -> None:
    lm = ScriptedLM(["no headers at all", CHAT_REPLY])
    _, done = run(cl.Predict(Triage, lm=lm), ticket="x")
    assert done.result.priority == 2 and len(lm.requests) == 2


def test_async_stream(server: FakeOpenAI) -> None:
    lm = openai_lm("m", base_url=server.base_url)

    async def collect() -> list[Any]:
        return [event async for event in cl.Predict(Triage, lm=lm).astream(ticket="crash")]

    events = asyncio.run(collect())
    assert isinstance(events[-1], Done) and events[-1].result.summary.startswith("The app")
    assert sum(isinstance(e, Partial) for e in events) > 5


def test_bad_inputs_raise_before_iteration() -> None:
    predict = cl.Predict(Triage, lm=ScriptedLM([CHAT_REPLY]))
    with pytest.raises(InputError):
        predict.stream(tickt="x")


class Upper(cl.Guard):
    def check_outputs(self, predictor: Any, outputs: dict[str, Any]) -> dict[str, Any]:
        return {**outputs, "summary": outputs["summary"].upper()}


class Streamer(cl.Module):
    def __init__(self) -> None:
        self.triage = cl.Predict(Triage)

    def forward(self, ticket: str) -> Iterator[cl.StreamEvent[Triage]]:
        return self.triage.stream(ticket=ticket)


def test_output_guards_hold_partial_text_back() -> None:
    predict = cl.Predict(Triage, lm=ScriptedLM([CHAT_REPLY])).add_guard(Upper())
    events, done = run(predict, ticket="x")
    assert events == [] and done.result.summary == "THE APP CRASHES  ON START."


def test_module_guards_hold_for_a_stream_read_after_the_module_returned() -> None:
    program = Streamer().add_guard(Upper())
    program.set_lm(ScriptedLM([CHAT_REPLY]))
    events = list(program(ticket="x"))  # consumed outside the module call
    assert len(events) == 1 and isinstance(events[0], Done)
    assert events[0].result.summary == "THE APP CRASHES  ON START."


# -- the readers, fed one character at a time ---------------------------------------------


def feed_all(reader: ChatReader | JSONReader, text: str, step: int) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for i in range(0, len(text), step):
        out += reader.feed(text[i : i + step])
    return out + reader.finish()


@pytest.mark.parametrize("step", [1, 2, 7, 1000])
def test_chat_reader_matches_the_final_parse_at_any_chunking(step: int) -> None:
    spec = cl.spec_of(Triage)
    text = "preamble [[ ## category ## ]]\n bug \n[[ ## other ## ]]\nx [[ y\n" + CHAT_REPLY[24:]
    reader = ChatReader(spec)
    deltas = feed_all(reader, text, step)
    parsed = CHAT.parse(spec, text)
    assert reader.texts["category"] == "bug"
    assert reader.texts["summary"] == parsed["summary"]
    assert "".join(d for f, d in deltas if f == "summary") == parsed["summary"]
    assert reader.completed == ["category", "priority", "summary"]


@pytest.mark.parametrize("step", [1, 3, 1000])
def test_json_reader_decodes_escapes_at_any_chunking(step: int) -> None:
    spec = cl.spec_of(Tags)
    text = "```json\n" + JSON_REPLY + "\n```"
    reader = JSONReader(spec)
    deltas = feed_all(reader, text, step)
    parsed = JSON.parse(spec, text)
    assert "".join(d for f, d in deltas if f == "note") == parsed["note"]
    assert reader.values == {"note": parsed["note"], "tags": ["food", "fr"]}
    assert reader.completed == ["note", "tags"]
