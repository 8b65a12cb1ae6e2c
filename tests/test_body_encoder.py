"""The async client's request bodies: byte for byte what httpx sends for json=, with the
messages every call repeats (system prompt, demos) encoded once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from castlm.lm import _aio_client
from castlm.lm._aio_client import BodyEncoder
from hypothesis import given
from hypothesis import strategies as st
from support.fuzz import json_values


def _httpx_bytes(value: Any) -> bytes:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8")


def _outcome(encode: Any, value: Any) -> bytes | str:
    try:
        result: bytes = encode(value)
    except ValueError:  # NaN or an infinity: refused on both paths alike
        return "ValueError"
    return result


texts = st.text(max_size=40)
roles = st.sampled_from(["system", "user", "assistant"])
messages = st.lists(
    st.fixed_dictionaries({"role": roles, "content": texts | json_values(3)}) | json_values(3),
    max_size=5,
)
bodies = st.fixed_dictionaries(
    {"model": texts, "messages": messages},
    optional={"max_tokens": st.integers(1, 99), "response_format": json_values(3)},
) | json_values(4)


@given(first=bodies, second=bodies)
def test_bodies_are_what_httpx_sends(first: Any, second: Any) -> None:
    encoder = BodyEncoder(limit=3)  # small: the cache also fills and empties here
    for body in (first, second, first):
        assert _outcome(encoder.encode, body) == _outcome(_httpx_bytes, body)


def test_repeated_messages_are_encoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    encoded: list[Any] = []
    real = _aio_client._ENCODER.encode

    class Counting:
        def encode(self, value: Any) -> str:
            encoded.append(value)
            return real(value)

    monkeypatch.setattr(_aio_client, "_ENCODER", Counting())
    system = {"role": "system", "content": "Reply with one JSON object."}
    demo = {"role": "assistant", "content": '{"label": "bug"}'}
    encoder = BodyEncoder()
    for i in range(50):
        call = {"role": "user", "content": f"ticket {i}"}
        body = {"model": "m", "messages": [system, demo, call], "max_tokens": 9}
        assert encoder.encode(body) == _httpx_bytes(body)
    assert sum(m is system for m in encoded) == 1
    assert sum(m is demo for m in encoded) == 1
    # A message changed in place is encoded anew, never served from what it held before.
    system["content"] = "Reply in French."
    body = {"model": "m", "messages": [system, {"role": "user", "content": "x"}]}
    assert encoder.encode(body) == _httpx_bytes(body)


def test_nan_is_refused_as_httpx_refuses_it() -> None:
    with pytest.raises(ValueError):
        BodyEncoder().encode({"model": "m", "messages": [], "temperature": float("nan")})
