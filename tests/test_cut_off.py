"""A reply cut at the token limit is retried shorter, not shown back to the model.

The real-server half of this is in tests/test_real_lm.py (SmolLM2 on llama.cpp, where a
cut chain of thought is what made the quality benchmark's one parse failure).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

import castlm as cl
import pytest
from castlm.base._structured import body_fields
from castlm.core._cut_off import MAX_CHARS, MIN_CHARS, NOTE, bounded, shorter_request
from castlm.lm._lm import LM, LMRequest, LMResponse, Usage
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

RAMBLE = '{"reasoning": "Settings > Health > Health > Health > Health > Health > Hea'


class Customer(BaseModel):
    plan: Literal["free", "pro"]
    product: str


class Triage(cl.Signature):
    """Triage a support ticket."""

    ticket: str = cl.InputField()
    category: Literal["bug", "billing"] = cl.OutputField()
    customer: Customer = cl.OutputField()


class CutsUnbounded(LM):
    """Rambles into the token limit unless the schema bounds its free text (what a
    grammar-constrained server does with ``maxLength``)."""

    def __init__(self) -> None:
        super().__init__("grammar-model", max_tokens=100, structured_output="llama_cpp")
        self.requests: list[LMRequest] = []

    def _send(self, request: LMRequest) -> LMResponse:
        self.requests.append(request)
        schema = (request.response_format or {})["json_schema"]["schema"]
        if "maxLength" not in schema["properties"]["reasoning"]:
            return LMResponse(RAMBLE, self.model, Usage(10, 100), "length")
        reply = {
            "reasoning": "short",
            "category": "bug",
            "customer": {"plan": "pro", "product": "app"},
        }
        return LMResponse(json.dumps(reply), self.model, Usage(10, 20), "stop")

    async def _asend(self, request: LMRequest) -> LMResponse:
        return self._send(request)


def _free_bounds(request: LMRequest) -> dict[str, Any]:
    schema = (request.response_format or {})["json_schema"]["schema"]
    customer = schema["$defs"]["Customer"]["properties"]
    return {
        "reasoning": schema["properties"]["reasoning"].get("maxLength"),
        "product": customer["product"].get("maxLength"),
        "plan": customer["plan"].get("maxLength"),
    }


def test_a_cut_reply_is_retried_with_bounded_free_text_and_without_the_cut_reply() -> None:
    lm = CutsUnbounded()
    result = cl.ChainOfThought(Triage, lm=lm, adapter="json")(ticket="the app crashes")
    assert (result.category, result.customer.plan) == ("bug", "pro")
    first, retry = lm.requests
    assert [m["role"] for m in retry.messages] == [m["role"] for m in first.messages]
    assert all(RAMBLE not in str(m["content"]) for m in retry.messages)
    assert str(retry.messages[-1]["content"]).endswith(NOTE)
    # 100 tokens -> 200 characters shared by the two free-text strings; the enum is left be.
    assert _free_bounds(retry) == {"reasoning": 100, "product": 100, "plan": None}
    assert "maxLength" not in json.dumps(first.response_format)


def test_the_async_path_retries_the_same_way() -> None:
    lm = CutsUnbounded()
    predictor = cl.ChainOfThought(Triage, lm=lm, adapter="json")
    result = asyncio.run(predictor.acall(ticket="the app crashes"))
    assert result.category == "bug" and len(lm.requests) == 2


def test_a_reply_cut_again_fails_with_the_advice_to_raise_max_tokens() -> None:
    class AlwaysCut(CutsUnbounded):
        def _send(self, request: LMRequest) -> LMResponse:
            self.requests.append(request)
            return LMResponse(RAMBLE, self.model, Usage(10, 100), "length")

    lm = AlwaysCut()
    with pytest.raises(cl.ParseError, match="raise max_tokens"):
        cl.ChainOfThought(Triage, lm=lm, adapter="json", parse_retries=2)(ticket="x")
    bounds = [_free_bounds(r)["reasoning"] for r in lm.requests]
    assert bounds == [None, 100, 50]  # the second cut halves the budget again
    assert str(lm.requests[2].messages[-1]["content"]).count(NOTE) == 1


def test_a_parse_error_that_is_not_a_cut_keeps_the_ordinary_retry() -> None:
    replies = iter(['{"category": "bug"', '{"category": "bug", "customer": {"plan": "pro", '])

    class Broken(CutsUnbounded):
        def _send(self, request: LMRequest) -> LMResponse:
            self.requests.append(request)
            return LMResponse(next(replies, "{}"), self.model, Usage(1, 1), "stop")

    lm = Broken()
    with pytest.raises(cl.ParseError):
        cl.Predict(Triage, lm=lm, adapter="json")(ticket="x")
    assert lm.requests[1].messages[-2]["role"] == "assistant"  # shown its reply and the error
    assert "maxLength" not in json.dumps(lm.requests[1].response_format)


def test_openai_strict_mode_is_not_sent_max_length() -> None:
    spec_format = cl.Predict(Triage, adapter="json").response_format()
    request = LMRequest(
        "m", ({"role": "user", "content": "hi"},), max_tokens=50, response_format=spec_format
    )
    retry = shorter_request(request, 1)
    assert retry.response_format is not None
    assert "maxLength" in json.dumps(body_fields("llama_cpp", retry.response_format))
    assert "maxLength" not in json.dumps(body_fields("json_schema", retry.response_format))


def test_images_keep_their_parts_and_get_the_note_as_text() -> None:
    parts = [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "x"}}]
    request = LMRequest("m", ({"role": "user", "content": parts},))
    content = shorter_request(request, 1).messages[-1]["content"]
    assert list(content)[:2] == parts and list(content)[-1] == {"type": "text", "text": NOTE}


_strings = st.fixed_dictionaries(
    {"type": st.just("string")},
    optional={
        "minLength": st.integers(0, 900),
        "maxLength": st.integers(0, 900),
        "enum": st.just(["a"]),
    },
)


@given(st.lists(_strings, min_size=1, max_size=6), st.integers(0, 5000))
def test_bounds_respect_the_schema_s_own_limits(fields: list[dict[str, Any]], chars: int) -> None:
    schema = {"type": "object", "properties": {f"f{i}": f for i, f in enumerate(fields)}}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    out = bounded(fmt, chars)["json_schema"]["schema"]["properties"]
    for i, field in enumerate(fields):
        got = out[f"f{i}"]
        if "enum" in field:
            assert got == field
            continue
        bound = got["maxLength"]
        assert bound >= field.get("minLength", 0)  # never an impossible string
        if "maxLength" in field and field["maxLength"] >= field.get("minLength", 0):
            assert bound <= field["maxLength"]  # never looser than the signature asked
        if bound > field.get("minLength", 0):
            assert MIN_CHARS <= bound <= MAX_CHARS or bound == field.get("maxLength")
