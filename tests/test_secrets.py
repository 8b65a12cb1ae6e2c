"""API keys and URL credentials never show: not in messages, tracebacks, logs or spans."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import traceback
from collections.abc import Iterator
from typing import Any

import castlm as cl
import httpx
import pytest
from castlm import ConfigurationError, LMError, LMStatusError, OpenAIChatLM
from castlm.embed._openai_rest import OpenAIRest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from support.clients import close_all, openai_lm
from support.fake_openai import FakeOpenAI, Fault

KEY = "sk-test-SECRET-0123456789abcdef"
MESSAGES = [{"role": "user", "content": "hi"}]
ENV_VARS = ("CASTLM_BASE_URL", "OPENAI_BASE_URL", "CASTLM_API_KEY", "OPENAI_API_KEY")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    yield
    close_all()


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(reply="hello") as fake:
        yield fake


def call(lm: OpenAIChatLM, run_async: bool) -> None:
    request = lm.request(MESSAGES)
    if run_async:
        asyncio.run(lm.acomplete(request))
    else:
        lm.complete(request)


def shown(error: BaseException) -> str:
    """All a logged traceback shows: every exception of the chain, with messages."""
    return "".join(traceback.format_exception(error))


# -- malformed keys are refused before any header is built --------------------------------


@pytest.mark.parametrize("bad", [KEY + "\n", KEY + " ", "Bearer " + KEY, KEY + "\x7f", KEY + "é"])
def test_malformed_explicit_key_is_refused_without_showing_it(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="api_key=") as caught:
        openai_lm(base_url="http://127.0.0.1:9/v1", api_key=bad)
    assert KEY not in shown(caught.value)


@pytest.mark.parametrize("run_async", [False, True])
@pytest.mark.parametrize("var", ["CASTLM_API_KEY", "OPENAI_API_KEY"])
def test_key_with_a_newline_in_the_environment_is_refused(
    server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, run_async: bool, var: str
) -> None:
    monkeypatch.setenv(var, KEY + "\n")  # as `export VAR="$(cat key.txt)"` cannot, but a file can
    before = len(server.chat_requests)
    lm = openai_lm(base_url=server.base_url, max_retries=0)
    with pytest.raises(ConfigurationError, match=rf"\${var} contains a newline") as caught:
        call(lm, run_async)
    assert KEY not in shown(caught.value) and len(server.chat_requests) == before


def test_header_with_a_newline_is_refused_without_showing_it() -> None:
    with pytest.raises(ConfigurationError, match="Authorization") as caught:
        openai_lm(base_url="http://127.0.0.1:9/v1", headers={"Authorization": f"Bearer {KEY}\n"})
    assert KEY not in shown(caught.value)


def test_rest_client_refuses_a_malformed_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError) as caught:
        OpenAIRest("the embeddings endpoint", base_url="http://127.0.0.1:9/v1", api_key=KEY + "\r")
    assert KEY not in str(caught.value)


# -- what a transport error quotes is scrubbed, chain included -------------------------------


def _quoting_transport(request: httpx.Request) -> httpx.Response:
    # What h11 does with a header it cannot send: quote it in the message.
    raise httpx.LocalProtocolError(f"Illegal header value {request.headers['authorization']!r}")


@pytest.mark.parametrize("run_async", [False, True])
def test_a_transport_error_quoting_the_key_does_not_show_it(
    monkeypatch: pytest.MonkeyPatch, run_async: bool
) -> None:
    lm = openai_lm(base_url="http://127.0.0.1:9/v1", api_key=KEY, max_retries=0)
    transport = httpx.MockTransport(_quoting_transport)
    monkeypatch.setattr(lm, "_sync_client", lambda: httpx.Client(transport=transport))
    monkeypatch.setattr(lm, "_new_async_client", lambda: httpx.AsyncClient(transport=transport))
    with pytest.raises(LMError, match="Illegal header value") as caught:
        call(lm, run_async)
    assert KEY not in shown(caught.value)


# -- credentials in the base URL go together with the key ----------------------------------


@pytest.mark.parametrize("run_async", [False, True])
def test_url_credentials_and_key_are_both_sent(server: FakeOpenAI, run_async: bool) -> None:
    lm = openai_lm(base_url=server.base_url.replace("://", "://gate:pw%40x@"), api_key=KEY)
    call(lm, run_async)
    headers = server.chat_requests[-1].headers
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["proxy-authorization"] == "Basic " + base64.b64encode(b"gate:pw@x").decode()


def test_url_credentials_with_a_custom_authorization_header(server: FakeOpenAI) -> None:
    lm = openai_lm(
        base_url=server.base_url.replace("://", "://gate:pw@"), headers={"Authorization": "Tok x"}
    )
    call(lm, False)
    headers = server.chat_requests[-1].headers
    assert headers["authorization"] == "Tok x" and headers["proxy-authorization"].startswith(
        "Basic"
    )


def test_url_credentials_alone_are_basic_auth(server: FakeOpenAI) -> None:
    lm = openai_lm(base_url=server.base_url.replace("://", "://gate:pw@"))
    call(lm, True)
    headers = server.chat_requests[-1].headers
    assert headers["authorization"].startswith("Basic ") and "proxy-authorization" not in headers


def test_echoed_url_credentials_are_masked(server: FakeOpenAI) -> None:
    server.fail(Fault.echo_auth(401))
    lm = openai_lm(base_url=server.base_url.replace("://", "://gate:pw-SECRET@"), api_key=KEY)
    with pytest.raises(LMStatusError) as caught:
        call(lm, False)
    basic = base64.b64encode(b"gate:pw-SECRET").decode()
    assert KEY not in shown(caught.value) and basic not in shown(caught.value)
    assert "pw-SECRET" not in shown(caught.value)
    assert "sent as Proxy-Authorization" in str(caught.value)  # says where each one went


# -- property: whatever the key is made of, it shows nowhere -------------------------------


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(self.format(record) + repr(record.__dict__))


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    cl.configure_tracing(tracer_provider=provider, capture_content=True)
    yield memory
    cl.configure_tracing()


def _span_text(memory: InMemorySpanExporter) -> str:
    parts: list[Any] = []
    for span in memory.get_finished_spans():
        parts.append([span.name, dict(span.attributes or {}), str(span.status.description)])
        parts += [(e.name, dict(e.attributes or {})) for e in span.events]
    return json.dumps(parts, default=str)


_KEYS = st.builds(lambda tail: "sk-" + tail, st.text(min_size=6, max_size=40))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=_KEYS, from_env=st.booleans(), run_async=st.booleans())
def test_no_key_shows_anywhere(
    server: FakeOpenAI, spans: InMemorySpanExporter, key: str, from_env: bool, run_async: bool
) -> None:
    if from_env and "\x00" in key:
        return  # the environment cannot hold a NUL
    records = _Records()
    logging.getLogger().addHandler(records)
    old_level = logging.getLogger().level
    logging.getLogger().setLevel(logging.DEBUG)
    spans.clear()
    server.fail(Fault.echo_auth(401))
    texts: list[str] = []
    try:
        if from_env:
            os.environ["CASTLM_API_KEY"] = key
        lm = openai_lm(base_url=server.base_url, max_retries=0, api_key=None if from_env else key)
        texts += [repr(lm), repr(vars(lm))]
        call(lm, run_async)
    except (ConfigurationError, LMStatusError) as error:
        texts.append(shown(error))
    else:
        pytest.fail("the echoing server answered 401; the call cannot succeed")
    finally:
        os.environ.pop("CASTLM_API_KEY", None)
        logging.getLogger().removeHandler(records)
        logging.getLogger().setLevel(old_level)
        server.clear_faults()  # a refused key sent nothing: its fault is still queued
    texts += records.texts
    texts.append(_span_text(spans))
    for text in texts:
        assert key not in text
