"""A real model on a real server: SmolLM2-135M served by llama-cpp-python on 127.0.0.1.

The server's virtualenv is benchmarks/.venv-llama (``.ci/run`` creates it; so does
``python benchmarks/quality/run.py``), or the interpreter named by ``$CASTLM_REAL_LM_PYTHON``.
Without either, these tests are skipped with a message saying so: only when llama-cpp-python
cannot be installed. The answers of a 135M model are not checked for being right, only for
being well-formed: a grammar makes a Literal, a bool, an int and a nested model impossible to
garble, which is what castlm's structured output promises.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import castlm as cl
import pytest
from castlm.base._structured import LEARNED
from castlm.lm._lm import LMRequest, LMResponse
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks" / "quality"))
from server import SERVER_VENV, llama_server  # noqa: E402

pytestmark = pytest.mark.timeout(900)


def _server_python() -> Path | None:
    named = os.environ.get("CASTLM_REAL_LM_PYTHON", "").strip()
    candidate = Path(named) if named else SERVER_VENV / "bin" / "python"
    return candidate if candidate.exists() else None


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    python = _server_python()
    if python is None:
        pytest.skip(
            f"no llama-cpp-python server environment ({SERVER_VENV} or $CASTLM_REAL_LM_PYTHON): "
            "llama-cpp-python could not be installed here, so the real-model tests do not run"
        )
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with llama_server(python, n_ctx=2048, threads=2, log=lambda _: None, log_file=log) as url:
        yield url


def _lm(base_url: str, **settings: object) -> cl.OpenAIChatLM:
    return cl.OpenAIChatLM("smollm2", base_url=base_url, api_key="unused", **settings)


class Topic(cl.Signature):
    """Classify a news headline into its section."""

    headline: str = cl.InputField()
    topic: Literal["business", "sports", "science", "politics", "entertainment"] = cl.OutputField()


class Customer(BaseModel):
    plan: Literal["free", "pro", "enterprise"]
    product: str


class Ticket(cl.Signature):
    """Read a support ticket."""

    ticket: str = cl.InputField()
    urgent: bool = cl.OutputField()
    users_affected: int = cl.OutputField()
    customer: Customer = cl.OutputField()


def test_auto_finds_the_llama_cpp_dialect_and_a_literal_comes_back_valid(base_url: str) -> None:
    LEARNED.forget()
    lm = _lm(base_url, temperature=0, max_tokens=32)
    predictor = cl.Predict(Topic, lm=lm)
    for headline in ("Shares fall as the central bank raises rates", "Striker scores twice"):
        result = predictor(headline=headline)
        assert result.topic in ("business", "sports", "science", "politics", "entertainment")
    assert lm.dialect() == "llama_cpp"  # json_schema was refused with HTTP 500, then learned


def test_a_bool_an_int_and_a_nested_model_parse(base_url: str) -> None:
    lm = _lm(base_url, temperature=0, max_tokens=96, structured_output="llama_cpp")
    result = cl.Predict(Ticket, lm=lm)(
        ticket="I'm on the pro plan and the mobile app crashes for our 12 users. Help!"
    )
    assert isinstance(result.urgent, bool) and isinstance(result.users_affected, int)
    assert result.customer.plan in ("free", "pro", "enterprise")


def test_chain_of_thought_reasons_then_answers(base_url: str) -> None:
    lm = _lm(base_url, temperature=0, max_tokens=300, structured_output="llama_cpp")
    result = cl.ChainOfThought(Topic, lm=lm)(headline="New telescope finds water on a moon")
    assert isinstance(result.reasoning, str)
    assert result.topic in ("business", "sports", "science", "politics", "entertainment")


def test_a_stream_ends_in_a_validated_result(base_url: str) -> None:
    lm = _lm(base_url, temperature=0, max_tokens=32, structured_output="llama_cpp")

    async def collect() -> list[object]:
        return [event async for event in cl.Predict(Topic, lm=lm).astream(headline="Vote")]

    events = list(cl.Predict(Topic, lm=lm).stream(headline="Election results are in"))
    assert isinstance(events[-1], cl.Done) and events[-1].result.topic
    async_events = asyncio.run(collect())
    assert isinstance(async_events[-1], cl.Done)


def test_a_chosen_dialect_the_server_refuses_is_an_error_not_a_downgrade(base_url: str) -> None:
    lm = _lm(base_url, max_tokens=16, structured_output="json_schema", max_retries=0)
    with pytest.raises(cl.LMStatusError, match="structured_output"):
        cl.Predict(Topic, lm=lm)(headline="Markets rally")


class Wordy(cl.Signature):
    """Classify a news headline into its section. Explain your reasoning thoroughly, step by
    step, before answering."""

    headline: str = cl.InputField()
    topic: Literal["business", "sports", "science", "politics", "entertainment"] = cl.OutputField()


class _Recording(cl.OpenAIChatLM):
    """Keeps every request with the finish reason of its answer."""

    sent: list[tuple[LMRequest, str | None]]

    def _send(self, request: LMRequest) -> LMResponse:
        response = super()._send(request)
        self.sent.append((request, response.finish_reason))
        return response


def test_a_chain_of_thought_cut_at_its_token_limit_is_retried_shorter_and_parses(
    base_url: str,
) -> None:
    # At 32 tokens this model's reasoning for this headline runs past the limit: the retry
    # bounds the reasoning string in the grammar, so the JSON closes within the budget.
    lm = _Recording(
        "smollm2",
        base_url=base_url,
        api_key="unused",
        temperature=0,
        max_tokens=32,
        structured_output="llama_cpp",
    )
    lm.sent = []
    headline = "Parliament votes to fund a new national space telescope after a long debate"
    result = cl.ChainOfThought(Wordy, lm=lm)(headline=f"{headline} over the budget and jobs")
    assert result.topic in ("business", "sports", "science", "politics", "entertainment")
    assert [reason for _, reason in lm.sent] == ["length", "stop"]
    retry = lm.sent[1][0].response_format
    assert retry is not None and '"maxLength": 64' in json.dumps(retry)


def test_an_emitted_package_streams_a_whole_program_from_the_real_server(
    base_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Program streaming (issue #14) over llama.cpp's own SSE, through an emitted package's
    ``stream`` / ``astream``, configured by environment as production configures it: each
    predictor's fields as they arrive, one PredictorDone per predictor, then the validated
    result, whose text fields are exactly what the deltas added up to."""
    from test_emit_support import emit, imported, request_for, write_sources

    program = write_sources(tmp_path / "src")
    out = emit(request_for(program, "streamed_pkg", lm_name="openai/smollm2"), tmp_path / "out")
    environment = {
        "CASTLM_BASE_URL": base_url,
        "CASTLM_API_KEY": "unused",
        "CASTLM_TEMPERATURE": "0",
        "CASTLM_MAX_TOKENS": "160",
        "CASTLM_STRUCTURED_OUTPUT": "llama_cpp",
    }
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CASTLM_MODEL", raising=False)  # the compiled openai/smollm2
    ticket = "The site is down for all our users since this morning"
    with imported(out, "streamed_pkg") as package:
        events = list(package.stream(ticket=ticket))

        async def collect() -> list[object]:
            return [event async for event in package.astream(ticket=ticket)]

        for streamed in (events, asyncio.run(collect())):
            finished = streamed[-1]
            assert isinstance(finished, package.Finished)
            assert isinstance(finished.result, package.Reply)
            done = [e for e in streamed if isinstance(e, package.PredictorDone)]
            assert [e.predictor for e in done] == ["triage", "draft"]
            assert done[0].result.urgency in ("low", "high")
            deltas = [e for e in streamed if isinstance(e, package.FieldDelta)]
            assert {e.predictor for e in deltas} == {"triage", "draft"}
            for field in ("reasoning", "reply"):
                text = "".join(
                    e.delta for e in deltas if (e.predictor, e.field) == ("draft", field)
                )
                assert text == getattr(done[1].result, field)
            assert finished.result.reply == done[1].result.reply
