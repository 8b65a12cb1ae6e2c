"""A real ``mlflow server`` started by the test: ``castlm compile --mlflow http://...`` logs to
it over HTTP, and castlm's spans reach its OTLP endpoint (``/v1/traces``) through the OTLP
exporter configured as docs/observability.md says, with the GenAI attributes intact."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import castlm as cl
import pytest
from castlm.compiler.cli import main
from castlm.testing import ScriptedLM
from support.clients import close_all, openai_lm
from support.fake_openai import FakeOpenAI
from support.project import write_project

mlflow = pytest.importorskip("mlflow", reason="mlflow is not installed: pip install castlm[mlflow]")
otlp = pytest.importorskip(
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    reason="opentelemetry-exporter-otlp-proto-http is not installed",
)
from support.mlflow_server import mlflow_server  # noqa: E402

KEY = "sk-otlp-SECRET-0123456789"
REPLY = "[[ ## answer ## ]]\nyes\n\n[[ ## completed ## ]]"


class Question(cl.Signature):
    """Answer."""

    question: str = cl.InputField()
    answer: str = cl.OutputField()


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as url:
        yield url


def test_the_cli_logs_a_compile_to_a_tracking_server(server: str, tmp_path: Path) -> None:
    root = write_project(tmp_path / "p")
    assert main(["compile", str(root), "--no-verify", "--mlflow", server]) == 0
    client = mlflow.MlflowClient(server)
    experiment = client.get_experiment_by_name("castlm")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["program"] == "program.py:Reviewer"
    assert {"score.baseline", "score.compiled", "phase.baseline.lm_calls"} <= set(run.data.metrics)
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"report.md", "report.svg", "package", "plan.json"} <= names


def spans_of(client: Any, experiment_id: str) -> list[Any]:
    traces = client.search_traces(locations=[experiment_id])
    return [span for trace in traces for span in trace.data.spans]


def test_spans_reach_the_otlp_endpoint_with_their_genai_attributes(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    client = mlflow.MlflowClient(server)
    experiment_id = client.create_experiment("castlm-otlp")
    # The configuration docs/observability.md gives, through the exporter's own variables.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{server}/v1/traces")
    monkeypatch.setenv(
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS", f"x-mlflow-experiment-id={experiment_id}"
    )
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "120")  # a cold server is slow
    provider = TracerProvider(resource=Resource.create({"service.name": "castlm-test"}))
    provider.add_span_processor(BatchSpanProcessor(otlp.OTLPSpanExporter()))
    cl.configure_tracing(tracer_provider=provider)
    try:
        with FakeOpenAI(reply=REPLY) as fake:
            lm = openai_lm("gpt-test", base_url=fake.base_url, api_key=KEY, cache=cl.LMCache())
            ask = cl.Predict(Question, lm=lm)
            ask(question="?")
            ask(question="?")  # a cache hit
        agent = cl.ReAct(Question, tools=[add])
        agent.set_lm(ScriptedLM([_step("add", {"a": 1, "b": 2}), _step("finish", {}), _final()]))
        agent(question="1+2?")
        assert provider.force_flush(180_000)
    finally:
        cl.configure_tracing()
        provider.shutdown()
        close_all()

    spans = spans_of(client, experiment_id)
    by_name: dict[str, list[Any]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    (chat,) = by_name["chat gpt-test"]
    attrs = chat.attributes
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "openai"
    assert str(attrs["gen_ai.response.id"]).startswith("chatcmpl-fake-")
    assert attrs["gen_ai.output.type"] in ("text", "json")
    assert attrs["gen_ai.usage.input_tokens"] > 0
    assert chat.span_type == "CHAT_MODEL"  # MLflow read the GenAI conventions
    (hit,) = by_name["castlm.cache_hit gpt-test"]
    assert hit.attributes["castlm.cache_hit"] is True
    assert not any(key.startswith("gen_ai.") for key in hit.attributes)
    (tool,) = by_name["execute_tool add"]
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool.attributes["gen_ai.tool.name"] == "add"
    assert KEY not in json.dumps([s.to_dict() for s in spans], default=str)


def _step(tool: str, args: dict[str, object]) -> str:
    return (
        f"[[ ## next_thought ## ]]\nNext.\n\n[[ ## next_tool_name ## ]]\n{tool}\n\n"
        f"[[ ## next_tool_args ## ]]\n{json.dumps(args)}\n\n[[ ## completed ## ]]"
    )


def _final() -> str:
    return "[[ ## reasoning ## ]]\nSo.\n\n[[ ## answer ## ]]\n3\n\n[[ ## completed ## ]]"
