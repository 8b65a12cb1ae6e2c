"""Fuzzing what OpenAIChatLM reads over HTTP: any status, headers (Retry-After,
Content-Type, Content-Encoding...) and body from a local server, sync and async.

Invariant: every answer ends in an LMResponse or an LMError subclass, never a raw httpx,
aiohttp or json exception. Budget: see support/fuzz.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import castlm as cl
import pytest
from castlm import LMError, RetryPolicy
from castlm.lm._openai import retry_after_seconds
from hypothesis import given
from hypothesis import strategies as st
from support.clients import close_all, openai_lm
from support.fake_openai import FakeOpenAI, Fault
from support.fuzz import budget
from support.fuzz import json_values as fuzz_json

FAST = RetryPolicy(max_retries=1, backoff_base=0.001, backoff_max=0.01)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(reply="ok") as fake:
        yield fake
    close_all()


header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30)
retry_after = (
    st.sampled_from(
        [
            "0",
            "1e9",
            "-5",
            "nan",
            "inf",
            "",
            " 2 ",
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "Mon, 01 Jan 0001 00:00:00 +1400",
            "Sun, 06 Nov 1994",
        ]
    )
    | header_text
)
headers = st.dictionaries(
    st.sampled_from(["Retry-After", "Content-Type", "Content-Encoding", "X-Request-Id"]),
    retry_after
    | st.sampled_from(
        [
            "text/event-stream",
            "gzip",
            "br",
            "deflate",
            "identity",
            "application/json; charset=latin-1",
        ]
    ),
    max_size=3,
)
json_values = fuzz_json(10)
messages = st.fixed_dictionaries(
    {},
    optional={
        "content": json_values,
        "tool_calls": json_values,
        "refusal": json_values,
        "role": json_values,
    },
)
completions = st.fixed_dictionaries(
    {},
    optional={
        "model": json_values,
        "usage": json_values,
        "error": json_values,
        "choices": json_values
        | st.lists(
            st.fixed_dictionaries(
                {}, optional={"message": messages | json_values, "finish_reason": json_values}
            ),
            max_size=2,
        ),
    },
)
bodies = (
    completions.map(lambda c: json.dumps(c).encode())
    | st.binary(max_size=60)
    | st.sampled_from(
        [b"", b"[" * 5000, b"<html>502</html>", b'{"error": {"message": "x"}}', b"\xff\xfe"]
    )
)
statuses = st.sampled_from(
    [200, 201, 204, 400, 401, 404, 408, 429, 500, 502, 503, 599]
) | st.integers(200, 599)


def _streamed(lm: cl.OpenAIChatLM, request: cl.LMRequest) -> cl.LMResponse:
    final = list(lm.stream(request))[-1]
    assert isinstance(final, cl.LMResponse)
    return final


async def _astreamed(lm: cl.OpenAIChatLM, request: cl.LMRequest) -> cl.LMResponse:
    final = [piece async for piece in lm.astream(request)][-1]
    assert isinstance(final, cl.LMResponse)
    return final


def _fault(status: int, body: bytes, extra: dict[str, str]) -> Fault:
    return Fault("raw", status=status, body=body, headers=extra)


@budget(60)
@given(status=statuses, body=bodies, extra=headers)
def test_any_answer_is_a_response_or_an_lm_error(
    server: FakeOpenAI, status: int, body: bytes, extra: dict[str, str]
) -> None:
    lm = openai_lm("m", base_url=server.base_url, retry=FAST, timeout=5.0)
    request = lm.request([{"role": "user", "content": "hi"}])
    for call, sent in (
        (lambda: lm.complete(request, use_cache=False), extra),
        (lambda: asyncio.run(lm.acomplete(request, use_cache=False)), extra),
        (lambda: _streamed(lm, request), extra),
        (lambda: asyncio.run(_astreamed(lm, request)), extra),
    ):
        server.clear_faults()
        server.fail(_fault(status, body, sent), _fault(status, body, sent))
        try:
            response = call()
        except LMError:
            continue
        assert isinstance(response, cl.LMResponse) and isinstance(response.text, str)
    lm.close()


@budget(100)
@given(value=retry_after)
def test_retry_after_is_a_delay_or_none(value: str) -> None:
    seconds = retry_after_seconds(value, now=datetime(2026, 1, 1, tzinfo=UTC))
    assert seconds is None or seconds >= 0
    assert FAST.delay(1, seconds) <= FAST.backoff_max


# Regression the fuzzer found: a body that its Content-Encoding says is compressed but is not
# raised httpx.DecodingError out of complete() and stream().
def test_a_body_that_does_not_match_its_content_encoding_is_a_response_error(
    server: FakeOpenAI,
) -> None:
    lm = openai_lm("m", base_url=server.base_url, retry=FAST, timeout=5.0)
    request = lm.request([{"role": "user", "content": "hi"}])
    server.clear_faults()
    server.fail(_fault(200, b"{}", {"Content-Encoding": "gzip"}))
    with pytest.raises(cl.LMResponseError, match="cannot be decoded as its Content-Encoding"):
        lm.complete(request, use_cache=False)
    server.fail(_fault(200, b"{}", {"Content-Encoding": "gzip"}))
    with pytest.raises(cl.LMResponseError, match="cannot be decoded as its Content-Encoding"):
        list(lm.stream(request))
    lm.close()


@pytest.mark.timeout(60)
def test_an_async_stream_whose_body_does_not_match_its_encoding_ends_in_an_lm_error(
    server: FakeOpenAI,
) -> None:
    """Found by the fuzzer above: aiohttp's reader could wait forever after a body that fails
    to decompress; each chunk wait is now bounded by ``timeout``."""
    lm = openai_lm("m", base_url=server.base_url, retry=FAST, timeout=2.0)
    request = lm.request([{"role": "user", "content": "hi"}])
    for _ in range(6):
        server.clear_faults()
        fault = _fault(356, b"[[[[[[[[", {"Content-Encoding": "deflate"})
        server.fail(fault, fault)
        with pytest.raises(LMError):
            asyncio.run(_astreamed(lm, request))
