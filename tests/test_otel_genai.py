"""The current GenAI conventions: provider name, response id, output type, cache hits that are
no client calls, and ``execute_tool`` spans for ReAct's and CodeAct's tools."""

from __future__ import annotations

import json
from collections.abc import Iterator

import castlm as cl
import pytest
from castlm.observe import _otel
from castlm.testing import ScriptedLM
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from support.clients import close_all, openai_lm
from support.fake_openai import FakeOpenAI

REPLY = "[[ ## answer ## ]]\nyes\n\n[[ ## completed ## ]]"


class Question(cl.Signature):
    """Answer."""

    question: str = cl.InputField()
    answer: str = cl.OutputField()


class Sum(cl.Signature):
    """Add the numbers."""

    a: int = cl.InputField()
    b: int = cl.InputField()
    total: int = cl.OutputField()


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    monkeypatch.delenv(_otel.CAPTURE_ENV, raising=False)
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    cl.configure_tracing(tracer_provider=provider)
    yield memory
    cl.configure_tracing()
    close_all()


def attrs_of(span: ReadableSpan) -> dict[str, object]:
    return dict(span.attributes or {})


def named(spans: tuple[ReadableSpan, ...], prefix: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name.startswith(prefix)]


def test_a_cache_hit_is_an_internal_span_without_tokens(exporter: InMemorySpanExporter) -> None:
    with FakeOpenAI(reply=REPLY) as server:
        lm = openai_lm("gpt-test", base_url=server.base_url, api_key="k", cache=cl.LMCache())
        ask = cl.Predict(Question, lm=lm)
        ask(question="?")
        ask(question="?")  # the same request: the cache answers
    spans = exporter.get_finished_spans()
    (client,) = named(spans, "chat ")
    (hit,) = named(spans, "castlm.cache_hit ")
    assert client.kind is SpanKind.CLIENT and hit.kind is SpanKind.INTERNAL
    assert attrs_of(hit) == {"castlm.cache_hit": True, "castlm.request.model": "gpt-test"}
    assert not any(key.startswith("gen_ai.") for key in attrs_of(hit))
    predict = [s for s in spans if s.name == "castlm.predict Question"][1]
    assert hit.parent is not None and hit.parent.span_id == predict.context.span_id
    assert predict.start_time is not None and hit.start_time is not None
    assert predict.start_time <= hit.start_time <= (hit.end_time or 0) <= (predict.end_time or 0)


def test_streamed_replies_carry_the_response_id(exporter: InMemorySpanExporter) -> None:
    with FakeOpenAI(reply=REPLY) as server:
        lm = openai_lm("gpt-test", base_url=server.base_url, api_key="k")
        list(cl.Predict(Question, lm=lm).stream(question="?"))
    (chat,) = named(exporter.get_finished_spans(), "chat ")
    assert str(attrs_of(chat)["gen_ai.response.id"]).startswith("chatcmpl-fake-")
    assert attrs_of(chat)["castlm.stream"] is True


@pytest.mark.parametrize(
    ("model", "provider"),
    [("gemini/g", "gcp.gemini"), ("bedrock/b", "aws.bedrock"), ("groq/q", "groq")],
)
def test_provider_names_are_the_conventions_well_known_values(
    exporter: InMemorySpanExporter, model: str, provider: str
) -> None:
    cl.Predict(Question, lm=ScriptedLM([REPLY], model=model))(question="?")
    (chat,) = named(exporter.get_finished_spans(), "chat ")
    assert attrs_of(chat)["gen_ai.provider.name"] == provider


def test_the_output_type_says_whether_json_was_asked_for(exporter: InMemorySpanExporter) -> None:
    plain = ScriptedLM([REPLY], model="plain")
    cl.Predict(Question, lm=plain)(question="?")
    structured = ScriptedLM([json.dumps({"answer": "yes"})], model="structured")
    structured.structured_output = "json_schema"
    cl.Predict(Question, lm=structured)(question="?")
    types = {
        s.name: attrs_of(s)["gen_ai.output.type"]
        for s in exporter.get_finished_spans()
        if s.name.startswith("chat ")
    }
    assert types == {"chat plain": "text", "chat structured": "json"}


def step(tool: str, args: dict[str, object] | str) -> str:
    text = args if isinstance(args, str) else json.dumps(args)
    return (
        f"[[ ## next_thought ## ]]\nNext.\n\n[[ ## next_tool_name ## ]]\n{tool}\n\n"
        f"[[ ## next_tool_args ## ]]\n{text}\n\n[[ ## completed ## ]]"
    )


FINAL = "[[ ## reasoning ## ]]\nSo.\n\n[[ ## answer ## ]]\n3\n\n[[ ## completed ## ]]"


def test_react_tools_get_execute_tool_spans(
    exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = cl.ReAct(Question, tools=[add])
    agent.set_lm(
        ScriptedLM(
            [step("add", {"a": 1, "b": 2}), step("add", {"a": "x"}), step("finish", {}), FINAL]
        )
    )
    monkeypatch.setenv(_otel.CAPTURE_ENV, "true")
    assert agent(question="1+2?").answer == "3"
    spans = exporter.get_finished_spans()
    good, bad = named(spans, "execute_tool ")
    assert good.name == bad.name == "execute_tool add"
    assert good.kind is SpanKind.INTERNAL
    assert attrs_of(good) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "add",
        "gen_ai.tool.type": "function",
        "gen_ai.tool.description": "Add two integers.",
        "gen_ai.tool.call.arguments": '{"a": 1, "b": 2}',
        "gen_ai.tool.call.result": "3",
    }
    assert good.status.status_code is StatusCode.UNSET
    assert bad.status.status_code is StatusCode.ERROR
    assert attrs_of(bad)["error.type"] == "ToolError"
    module = next(s for s in spans if s.name == "castlm.module ReAct")
    assert good.parent is not None and good.parent.span_id == module.context.span_id


def test_tool_content_is_recorded_only_on_opt_in(exporter: InMemorySpanExporter) -> None:
    agent = cl.ReAct(Question, tools=[add])
    agent.set_lm(ScriptedLM([step("add", {"a": 1, "b": 2}), step("finish", {}), FINAL]))
    agent(question="1+2?")
    (span,) = named(exporter.get_finished_spans(), "execute_tool ")
    assert "gen_ai.tool.call.arguments" not in attrs_of(span)
    assert "gen_ai.tool.call.result" not in attrs_of(span)


def test_codeact_tool_calls_get_execute_tool_spans(exporter: InMemorySpanExporter) -> None:
    sandbox = cl.Sandbox(timeout=5.0, memory_mb=256)
    result = sandbox.run("add(2, 3) * 10", tools=[cl.Tool(add)])
    assert result.value == 50
    failed = sandbox.run("add(1, b='two')", tools=[cl.Tool(add)])
    assert failed.error
    first, second = named(exporter.get_finished_spans(), "execute_tool ")
    assert attrs_of(first)["gen_ai.tool.name"] == "add"
    assert first.status.status_code is StatusCode.UNSET
    assert second.status.status_code is StatusCode.ERROR
    assert attrs_of(second)["error.type"] == "ToolError"
