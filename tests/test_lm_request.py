"""LM.request builds the request in one go: it must equal fill() of the bare request.

``request`` runs on every predictor call, so it no longer builds the request and then copies
it through ``fill`` (two dataclass copies per call); these tests keep the two in step.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from castlm import LM, LMRequest, LMResponse
from hypothesis import given
from hypothesis import strategies as st


class _Quiet(LM):
    def _send(self, request: LMRequest) -> LMResponse:
        return LMResponse(text="", model=self.model)


def _filled(lm: LM, default_max_tokens: int | None, **asked: Any) -> LMRequest:
    """What request() returned when it was built and then filled."""
    stop = asked.pop("stop", None)
    bare = LMRequest(
        model=lm.model,
        messages=({"role": "user", "content": "hi"},),
        stop=tuple(stop) if stop else None,
        **asked,
    )
    filled = lm.fill(bare)
    if filled.max_tokens is None and default_max_tokens is not None:
        return replace(filled, max_tokens=default_max_tokens)
    return filled


maybe_float = st.none() | st.floats(0.0, 1.0)
maybe_tokens = st.none() | st.integers(1, 500)
maybe_stop = st.none() | st.lists(st.sampled_from(["\n", "END"]), max_size=2)


@given(
    lm_settings=st.fixed_dictionaries(
        {},
        optional={
            "temperature": maybe_float,
            "max_tokens": maybe_tokens,
            "top_p": st.none() | st.floats(0.1, 1.0),
            "seed": st.none() | st.integers(0, 9),
            "stop": maybe_stop,
            "reasoning_effort": st.none() | st.sampled_from(["low", "high"]),
            "extra_body": st.none() | st.just({"top_k": 5}),
        },
    ),
    temperature=maybe_float,
    max_tokens=maybe_tokens,
    stop=maybe_stop,
    default_max_tokens=maybe_tokens,
    rollout=st.none() | st.integers(0, 3),
    response_format=st.none() | st.just({"type": "json_object"}),
)
def test_request_equals_the_filled_bare_request(
    lm_settings: dict[str, Any],
    temperature: float | None,
    max_tokens: int | None,
    stop: list[str] | None,
    default_max_tokens: int | None,
    rollout: int | None,
    response_format: dict[str, Any] | None,
) -> None:
    lm = _Quiet("m", **lm_settings)
    asked: dict[str, Any] = {
        "temperature": temperature,
        "max_tokens": max_tokens,
        "stop": stop,
        "rollout": rollout,
        "response_format": response_format,
    }
    built = lm.request(
        [{"role": "user", "content": "hi"}], default_max_tokens=default_max_tokens, **asked
    )
    assert built == _filled(lm, default_max_tokens, **asked)


@pytest.mark.parametrize("dialect", ["off", "json_schema", "llama_cpp"])
def test_request_carries_the_lm_dialect(dialect: Any) -> None:
    lm = _Quiet("m", structured_output=dialect)
    assert lm.request([{"role": "user", "content": "hi"}]).structured_output == dialect
