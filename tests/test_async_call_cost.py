"""What the async call path saves per call keeps its behaviour (docs/runtime.md, "What an
async call costs"): kept JSON of a predictor's fixed messages, messages shared by
``payload()``, one scope object per module and predictor call, the key checked in C."""

from __future__ import annotations

import asyncio
import copy
import json
import pickle
from collections.abc import Iterator
from typing import Any

import castlm as cl
import pytest
from castlm.base._errors import ConfigurationError
from castlm.base._keys import env_key, env_key_value
from castlm.lm import _aio_client
from castlm.lm._litellm import LiteLLMLM
from castlm.lm._lm import FixedMessage
from castlm.observe import _instrument
from castlm.testing import StandInLM
from support.clients import close_all, openai_lm
from support.fake_openai import FakeOpenAI


class Echo(cl.Signature):
    """Repeat the text."""

    text: str = cl.InputField()
    echo: str = cl.OutputField()


DEMOS = [{"text": "héllo", "echo": "héllo"}, {"text": "two", "echo": "two"}]


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    close_all()


def _predictor(lm: cl.LM) -> cl.Predict[Echo, Any]:
    predictor = cl.Predict(Echo, lm=lm)
    predictor.demos = DEMOS
    return predictor


def test_a_predictors_fixed_messages_are_read_only_and_copy_as_themselves() -> None:
    prefix = _predictor(StandInLM()).prefix()
    assert len(prefix) == 1 + 2 * len(DEMOS)  # the system message and two per demo
    assert all(type(m) is FixedMessage for m in prefix)
    first = prefix[0]
    for edit in (
        lambda: first.__setitem__("content", "x"),
        lambda: first.update(content="x"),
        lambda: first.pop("content"),
        lambda: first.clear(),
        lambda: first.setdefault("name", "x"),
    ):
        with pytest.raises(TypeError, match="copy one with dict"):
            edit()
    editable = dict(first)
    editable["content"] = "x"  # a copy is a plain dict
    for clone in (pickle.loads(pickle.dumps(first)), copy.deepcopy(first), copy.copy(first)):
        assert type(clone) is FixedMessage
        assert clone == first
        assert (
            clone.json == first.json == json.dumps(first, ensure_ascii=False, separators=(",", ":"))
        )


def test_the_async_body_is_the_plain_encoding_and_fixed_messages_are_encoded_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    predictor = _predictor(StandInLM())
    encoded: list[object] = []
    plain = _aio_client._ENCODER.encode

    def counting(value: object) -> str:
        encoded.append(value)
        return plain(value)

    monkeypatch.setattr(_aio_client._ENCODER, "encode", counting)
    for text in ("first ünïcode", "second"):
        body = predictor._prepare({"text": text})[2].payload()
        assert json.loads(_aio_client._body(body)) == json.loads(json.dumps(body))
    fixed = [m for m in body["messages"] if type(m) is FixedMessage]
    assert len(fixed) == 1 + 2 * len(DEMOS)
    # Each fixed message was encoded once, when made: each body encoded its user message and
    # the rest of the body.
    assert sum(1 for v in encoded if any(v is m for m in fixed)) == len(fixed)
    assert len(encoded) == len(fixed) + 2 + 2


def test_a_body_without_fixed_messages_is_encoded_as_before() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "seed": 1}
    expected = b'{"model":"m","messages":[{"role":"user","content":"hi"}],"seed":1}'
    assert _aio_client._body(body) == expected


def test_arun_sends_each_call_the_request_it_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASTLM_API_KEY", "sk-test")
    with FakeOpenAI(reply="[[ ## echo ## ]]\nsame\n\n[[ ## completed ## ]]") as server:
        lm = openai_lm("m", base_url=server.base_url)
        predictor = _predictor(lm)

        async def twice() -> list[str]:
            try:
                return [(await predictor.acall(text=t)).echo for t in ("a", "b")]
            finally:
                await lm.aclose()

        assert asyncio.run(twice()) == ["same", "same"]
        sent = server.chat_requests
    for request, text in zip(sent, ("a", "b"), strict=True):
        expected = predictor._prepare({"text": text})[2].payload()
        assert request.body == json.loads(json.dumps(expected))
        assert request.headers["authorization"] == "Bearer sk-test"


def test_payload_shares_dict_messages_and_litellm_gets_copies() -> None:
    request = _predictor(StandInLM())._prepare({"text": "a"})[2]
    body = request.payload()
    assert all(a is b for a, b in zip(body["messages"], request.messages, strict=True))
    kwargs = LiteLLMLM("openai/m")._kwargs(request)
    assert kwargs["messages"] == body["messages"]
    assert not any(a is b for a, b in zip(kwargs["messages"], request.messages, strict=True))
    assert all(type(m) is dict for m in kwargs["messages"])


def test_a_failed_predictor_call_leaves_no_caller_behind() -> None:
    class Broken(StandInLM):
        async def _asend(self, request: cl.LMRequest) -> cl.LMResponse:
            raise RuntimeError("down")

    predictor = cl.Predict(Echo, lm=Broken())

    async def fail_then_look() -> object:
        seen = []
        original = Broken._asend

        async def spy(lm: Broken, request: cl.LMRequest) -> cl.LMResponse:
            seen.append(_instrument._caller.get())
            return await original(lm, request)

        Broken._asend = spy  # type: ignore[method-assign]
        with pytest.raises(RuntimeError, match="down"):
            await predictor.acall(text="a")
        assert seen == [predictor]  # named as the caller during the call
        return _instrument._caller.get()  # the same context, after it

    assert asyncio.run(fail_then_look()) is None


def test_a_content_type_header_passed_in_is_replaced_by_json() -> None:
    with FakeOpenAI(reply="hello") as server:
        lm = openai_lm("m", base_url=server.base_url, headers={"content-type": "text/plain"})

        async def once() -> str:
            try:
                return (await lm.acomplete(lm.request([{"role": "user", "content": "hi"}]))).text
            finally:
                await lm.aclose()

        assert asyncio.run(once()) == "hello"
        [sent] = server.chat_requests
    assert sent.headers["content-type"] == "application/json"
    assert sent.body["messages"] == [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("bad", ["sk-abc\n", "sk a", "sk-é", "sk-\x7f"])
def test_the_fast_key_check_refuses_what_the_full_check_refuses(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv("CASTLM_API_KEY", bad)
    with pytest.raises(ConfigurationError) as full:
        env_key(["CASTLM_API_KEY"])
    with pytest.raises(ConfigurationError) as fast:
        env_key_value(["CASTLM_API_KEY"])
    assert str(fast.value) == str(full.value)
    assert bad not in str(fast.value)


def test_the_fast_key_check_passes_a_good_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj_AZaz09-~!")
    assert env_key_value(["CASTLM_API_KEY", "OPENAI_API_KEY"]) == "sk-proj_AZaz09-~!"
    monkeypatch.delenv("OPENAI_API_KEY")
    assert env_key_value(["CASTLM_API_KEY", "OPENAI_API_KEY"]) is None
