"""OpenTelemetry spans with GenAI attributes; content only on opt-in; a no-op without otel."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

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

KEY = "sk-otel-SECRET-abcdef0123456789"
REPLY = "[[ ## answer ## ]]\nyes\n\n[[ ## completed ## ]]"


class Question(cl.Signature):
    """Answer."""

    question: str = cl.InputField()
    answer: str = cl.OutputField()


class Asker(cl.Module):
    def __init__(self, lm: cl.LM) -> None:
        self.ask = cl.Predict(Question, lm=lm)

    def forward(self, question: str) -> str:
        return self.ask(question=question).answer


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    monkeypatch.delenv(_otel.CAPTURE_ENV, raising=False)
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    cl.configure_tracing(tracer_provider=provider)
    yield memory
    cl.configure_tracing()


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(reply=REPLY) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    close_all()


def by_name(spans: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    return {s.name: s for s in spans}


def flat(span: ReadableSpan) -> str:
    """Every attribute and event of a span as text, to look for leaks."""
    events = [(e.name, dict(e.attributes or {})) for e in span.events]
    return json.dumps([dict(span.attributes or {}), events], default=str)


def test_module_predictor_and_lm_spans_nest_with_genai_attributes(
    exporter: InMemorySpanExporter, server: FakeOpenAI
) -> None:
    lm = openai_lm("gpt-test", base_url=server.base_url, api_key=KEY)
    assert Asker(lm)(question="?") == "yes"
    spans = by_name(exporter.get_finished_spans())
    module, predict, chat = (
        spans["castlm.module Asker"],
        spans["castlm.predict Question"],
        spans["chat gpt-test"],
    )
    assert predict.parent is not None and predict.parent.span_id == module.context.span_id
    assert chat.parent is not None and chat.parent.span_id == predict.context.span_id
    assert chat.kind is SpanKind.CLIENT
    attrs = dict(chat.attributes or {})
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "openai"
    assert "gen_ai.system" not in attrs  # replaced by gen_ai.provider.name in the conventions
    assert str(attrs["gen_ai.response.id"]).startswith("chatcmpl-fake-")
    assert attrs["castlm.cache_hit"] is False
    assert attrs["gen_ai.request.model"] == attrs["gen_ai.response.model"] == "gpt-test"
    assert attrs["gen_ai.usage.input_tokens"] != 0 != attrs["gen_ai.usage.output_tokens"]
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert (attrs["server.address"], attrs["server.port"]) == ("127.0.0.1", server.port)
    assert "gen_ai.input.messages" not in attrs and "gen_ai.output.messages" not in attrs
    assert all(KEY not in flat(s) for s in spans.values())


def test_content_is_recorded_only_on_opt_in(
    exporter: InMemorySpanExporter, server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(_otel.CAPTURE_ENV, "true")
    lm = openai_lm("gpt-test", base_url=f"http://u:{KEY}@127.0.0.1:{server.port}/v1")
    cl.Predict(Question, lm=lm)(question="what is up?")
    chat = by_name(exporter.get_finished_spans())["chat gpt-test"]
    attrs = dict(chat.attributes or {})
    sent = json.loads(str(attrs["gen_ai.input.messages"]))
    assert sent[-1]["role"] == "user" and "what is up?" in sent[-1]["parts"][0]["content"]
    said = json.loads(str(attrs["gen_ai.output.messages"]))
    assert said[0]["parts"][0]["content"] == REPLY
    assert KEY not in flat(chat)


def test_errors_streams_and_async_calls_are_traced(exporter: InMemorySpanExporter) -> None:
    failing = cl.Predict(Question, lm=ScriptedLM([], model="empty"))
    with pytest.raises(cl.LMError):
        failing(question="?")
    chat = by_name(exporter.get_finished_spans())["chat empty"]
    assert chat.status.status_code is StatusCode.ERROR
    assert (chat.attributes or {})["error.type"] == "LMError"
    exporter.clear()

    streaming = cl.Predict(Question, lm=ScriptedLM([REPLY], model="s"))
    list(streaming.stream(question="?"))
    spans = by_name(exporter.get_finished_spans())
    chat, predict = spans["chat s"], spans["castlm.predict Question"]
    assert (predict.attributes or {})["castlm.stream"] is True
    assert chat.parent is not None and chat.parent.span_id == predict.context.span_id
    exporter.clear()

    asker = Asker(ScriptedLM([REPLY], model="a"))
    assert asyncio.run(asker.acall(question="?")) == "yes"
    spans = by_name(exporter.get_finished_spans())
    module = spans["castlm.module Asker"]
    predict = spans["castlm.predict Question"]
    assert predict.parent is not None and predict.parent.span_id == module.context.span_id


def test_tracing_can_be_switched_off(exporter: InMemorySpanExporter) -> None:
    cl.configure_tracing(enabled=False)
    cl.Predict(Question, lm=ScriptedLM([REPLY]))(question="?")
    assert exporter.get_finished_spans() == ()


def test_without_opentelemetry_calls_work_and_nothing_is_traced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [m for m in sys.modules if m.startswith("opentelemetry")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # import now fails: "not installed"
    cl.configure_tracing()
    try:
        assert _otel.tracer() is None
        assert Asker(ScriptedLM([REPLY]))(question="?") == "yes"
    finally:
        monkeypatch.undo()
        cl.configure_tracing()


def run_python(code: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def test_importing_castlm_does_not_import_opentelemetry() -> None:
    loaded = run_python(
        """
        import json, sys
        import castlm
        from castlm.testing import ScriptedLM

        class Q(castlm.Signature):
            q: str = castlm.InputField()
            a: str = castlm.OutputField()

        before = any(m.startswith("opentelemetry") for m in sys.modules)
        sys.modules["opentelemetry"] = None  # as if it were not installed
        castlm.Predict(Q, lm=ScriptedLM(["[[ ## a ## ]]\\nx"]))(q="?")
        print(json.dumps(before))
        """
    )
    assert loaded is False
