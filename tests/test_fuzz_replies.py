"""Fuzzing what castlm reads from an LM: reply text (chat format and JSON), streamed
server-sent events, and tool calls (native ``tool_calls`` and the text protocol).

Invariant: every reply ends in a validated result or a castlm error (ParseError, LMError,
ToolError...: a CastlmError), never another exception. Budget: see support/fuzz.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Literal

import castlm as cl
import pytest
from castlm import CastlmError, Done, ParseError, Partial, spec_of
from castlm.core._adapter import CHAT, JSON
from castlm.core._fields_reader import JSONReader
from castlm.lm._lm_settings import parse_assignment
from castlm.lm._openai import _tool_calls
from castlm.lm._sse import ChunkReader
from castlm.retrieval._retrieve import load_passages
from castlm.testing import ScriptedLM
from castlm.tools._mcp import _json_line, _json_messages
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel
from support.clients import close_all
from support.fake_openai import FakeOpenAI, Fault
from support.fuzz import budget
from support.fuzz import json_values as fuzz_json


class Address(BaseModel):
    city: str
    zip_code: str


class Triage(cl.Signature):
    """Route the ticket."""

    ticket: str = cl.InputField()
    category: Literal["billing", "bug"] = cl.OutputField()
    urgent: bool = cl.OutputField()
    priority: int = cl.OutputField(ge=1, le=3)
    note: str = cl.OutputField()


class Extract(cl.Signature):
    text: str = cl.InputField()
    address: Address = cl.OutputField()
    tags: list[str] = cl.OutputField()


SPECS = [spec_of(Triage), spec_of(Extract)]
NAMES = ["category", "urgent", "priority", "note", "address", "tags", "completed", "x"]

json_values = fuzz_json(10)
pieces = st.sampled_from(
    [
        "billing",
        "BUG",
        "`bug`",
        "true",
        "no",
        "2",
        "9",
        "2.0",
        '{"city": "A", "zip_code": "1"}',
        '["a", 1]',
        "```json\n",
        "```",
        "[" * 3000,
        "{" * 3000,
        '{"a":' * 3000,
        "\ud800",
        "\x00",
        "",
    ]
)
values = pieces | json_values.map(json.dumps) | st.text(max_size=30)


@st.composite
def chat_replies(draw: st.DrawFn) -> str:
    sections = draw(
        st.lists(st.tuples(st.sampled_from(NAMES) | st.text(max_size=6), values), max_size=7)
    )
    text = "".join(f"[[ ## {name} ## ]]\n{value}\n\n" for name, value in sections)
    return (
        draw(st.sampled_from(["", "prose ", "[[ ## "]))
        + text
        + draw(st.sampled_from(["", "[[ ## completed ## ]]", "]]"]))
    )


@st.composite
def json_replies(draw: st.DrawFn) -> str:
    keys = st.sampled_from(NAMES) | st.text(max_size=6)
    obj = draw(st.dictionaries(keys, json_values | pieces, max_size=6))
    text = json.dumps(obj)
    cut = draw(st.integers(0, len(text)))
    return draw(st.sampled_from(["", "```json\n", "Sure: "])) + draw(
        st.sampled_from([text, text[:cut], text + "}", "[" + text])
    )


replies = chat_replies() | json_replies() | st.text(max_size=200) | pieces


def _parse(adapter: Any, spec: Any, text: str) -> None:
    try:
        out = adapter.parse(spec, text)
    except ParseError:
        return
    assert set(out) == {f.name for f in spec.outputs}


@budget(150)
@given(text=replies)
def test_adapters_parse_or_raise_parse_error(text: str) -> None:
    for spec in SPECS:
        _parse(CHAT, spec, text)
        _parse(JSON, spec, text)


@budget(60)
@given(
    texts=st.lists(replies, min_size=1, max_size=4),
    adapter=st.sampled_from(["chat", "json", "auto"]),
)
def test_a_predict_call_returns_a_result_or_a_castlm_error(texts: list[str], adapter: Any) -> None:
    predict = cl.Predict(Triage, lm=ScriptedLM(texts), adapter=adapter)
    try:
        result = predict(ticket="refund")
    except CastlmError:
        return
    assert result.category in ("billing", "bug") and 1 <= result.priority <= 3


# -- server-sent events ---------------------------------------------------------------------
chunk_objects = st.fixed_dictionaries(
    {},
    optional={
        "model": json_values,
        "usage": json_values
        | st.fixed_dictionaries({"prompt_tokens": json_values, "completion_tokens": json_values}),
        "error": json_values,
        "choices": json_values
        | st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "delta": json_values | st.fixed_dictionaries({"content": json_values}),
                    "finish_reason": json_values,
                },
            ),
            max_size=2,
        ),
    },
)
sse_lines = (
    chunk_objects.map(lambda c: "data: " + json.dumps(c))
    | st.sampled_from(
        [
            "data: [DONE]",
            "data:[DONE]",
            "",
            ": comment",
            "event: x",
            "data: ",
            "data: {",
            "data: 1",
            "data: " + "[" * 5000,
        ]
    )
    | st.text(max_size=40).map(lambda t: "data: " + t)
    | st.text(max_size=40)
)


@budget(150)
@given(lines=st.lists(sse_lines, max_size=8))
def test_the_chunk_reader_reads_or_raises_a_castlm_error(lines: list[str]) -> None:
    reader = ChunkReader("m")
    try:
        for line in lines:
            added = reader.feed(line)
            assert added is None or isinstance(added, str)
    except CastlmError:
        return
    response = reader.response()
    assert isinstance(response.text, str) and isinstance(response.model, str)


async def _collect(events: AsyncIterator[Any]) -> list[Any]:
    return [event async for event in events]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(reply="[[ ## answer ## ]]\nok\n\n[[ ## completed ## ]]") as fake:
        yield fake
    close_all()


@budget(40)
@given(lines=st.lists(sse_lines, max_size=6), done=st.booleans(), use_async=st.booleans())
def test_a_streamed_predict_call_ends_in_done_or_a_castlm_error(
    server: FakeOpenAI, lines: list[str], done: bool, use_async: bool
) -> None:
    body = "".join(f"{line}\n\n" for line in lines) + ("data: [DONE]\n\n" if done else "")
    server.clear_faults()
    server.fail(Fault.raw_stream(body.encode("utf-8", "surrogatepass")))
    lm = cl.OpenAIChatLM("m", base_url=server.base_url, max_retries=0, structured_output="off")
    try:
        if use_async:
            events = asyncio.run(_collect(cl.Predict(Triage, lm=lm).astream(ticket="x")))
        else:
            events = list(cl.Predict(Triage, lm=lm).stream(ticket="x"))
    except CastlmError:
        return
    finally:
        lm.close()
    done = events.pop()
    assert isinstance(done, Done) and all(isinstance(e, Partial) for e in events)
    assert done.result.category in ("billing", "bug")


# -- tool calls ------------------------------------------------------------------------------
def lookup(city: str, limit: int = 3) -> str:
    """Look a city up.

    Args:
        city: the city
        limit: how many
    """
    return f"{city}:{limit}"


def shout(text: str) -> str:
    """Upper-case the text."""
    return text.upper()


TOOLS = [cl.Tool(lookup), cl.Tool(shout)]
arguments = (
    json_values.map(json.dumps)
    | st.dictionaries(st.sampled_from(["city", "limit", "text", "x"]), json_values, max_size=3).map(
        json.dumps
    )
    | st.text(max_size=30)
    | json_values
)
entries = json_values | st.fixed_dictionaries(
    {},
    optional={
        "id": json_values,
        "type": json_values,
        "function": json_values
        | st.fixed_dictionaries(
            {},
            optional={
                "name": st.sampled_from(["lookup", "shout", "finish", ""]) | json_values,
                "arguments": arguments,
            },
        ),
    },
)


@budget(100)
@given(raw=json_values | st.lists(entries, max_size=3))
def test_tool_call_payloads_run_or_fail_as_observations(raw: Any) -> None:
    for call in _tool_calls(raw):
        assert isinstance(call.name, str) and isinstance(call.arguments, str)
        for tool in TOOLS:
            observation = tool.run(call.arguments)
            assert isinstance(observation.text, str)
            with contextlib.suppress(CastlmError):
                tool.validate(tool.parse_args(call.arguments))


class QA(cl.Signature):
    """Answer."""

    question: str = cl.InputField()
    answer: str = cl.OutputField()


@budget(40)
@given(calls=st.lists(entries, max_size=3), text=st.none() | st.text(max_size=20))
def test_native_tool_calls_through_react_end_in_an_answer_or_a_castlm_error(
    server: FakeOpenAI, calls: list[Any], text: str | None
) -> None:
    message = {"role": "assistant", "content": text, "tool_calls": calls}
    body = {
        "model": "m",
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
    }
    server.clear_faults()
    server.fail(Fault.malformed(json.dumps(body).encode(), status=200))
    lm = cl.OpenAIChatLM("m", base_url=server.base_url, max_retries=0, structured_output="off")
    agent = cl.ReAct(QA, tools=[lookup, shout], max_iters=2)
    agent.set_lm(lm)
    try:
        result = agent(question="where?")
    except CastlmError:
        return
    finally:
        lm.close()
    assert isinstance(result.answer, str)


# Regressions the fuzzers found: JSON nested deeper than Python's recursion limit raised
# RecursionError out of every JSON reader.
DEEP = "[" * 5000


def test_a_deeply_nested_reply_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="not a JSON object"):
        JSON.parse(spec_of(Extract), '{"a":' * 5000)
    with pytest.raises(ParseError, match="invalid output values"):
        CHAT.parse(spec_of(Extract), f"[[ ## address ## ]]\n{DEEP}\n\n[[ ## tags ## ]]\n[]")


def test_a_deeply_nested_stream_chunk_is_a_castlm_error() -> None:
    with pytest.raises(cl.LMResponseError, match="not JSON"):
        ChunkReader("m").feed(f"data: {DEEP}")


def test_deeply_nested_tool_arguments_are_a_tool_error() -> None:
    with pytest.raises(cl.ToolError, match="must be a JSON object"):
        cl.Tool(lookup).parse_args(DEEP)
    assert not cl.Tool(lookup).run(DEEP).ok


def test_a_deeply_nested_completion_body_is_a_response_error(server: FakeOpenAI) -> None:
    server.clear_faults()
    server.fail(Fault.malformed(DEEP.encode()), Fault.malformed(DEEP.encode(), status=400))
    lm = cl.OpenAIChatLM("m", base_url=server.base_url, max_retries=0)
    try:
        with pytest.raises(cl.LMResponseError, match="body is not JSON"):
            lm.complete(lm.request([{"role": "user", "content": "hi"}]))
        with pytest.raises(cl.LMStatusError, match="HTTP 400"):
            lm.complete(lm.request([{"role": "user", "content": "hi"}]))
    finally:
        lm.close()


def test_a_deeply_nested_streamed_field_waits_for_the_final_parse() -> None:
    reader = JSONReader(spec_of(Extract))
    assert reader.feed('{"tags": ' + DEEP) == []


def test_deeply_nested_json_from_an_mcp_server_is_no_message() -> None:
    assert _json_line(DEEP) is None and _json_messages(DEEP) == []


def test_a_deeply_nested_json_corpus_is_a_configuration_error(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.json"
    corpus.write_text(DEEP)
    with pytest.raises(cl.ConfigurationError, match="is not valid JSON"):
        load_passages(corpus)


def test_a_deeply_nested_lm_setting_is_read_as_text() -> None:
    assert parse_assignment(f"stop={DEEP}", where="--lm-setting") == ("stop", (DEEP,))
