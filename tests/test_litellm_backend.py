"""LiteLLMLM against a stand-in ``litellm`` module (the real one is an optional extra)."""

from __future__ import annotations

import asyncio
import pickle
import sys
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from castlm import (
    ConfigurationError,
    LMConnectionError,
    LMError,
    LMResponseError,
    LMStatusError,
    LMTimeoutError,
)
from castlm._cache import LMCache
from castlm._litellm import LiteLLMLM

KEY = "sk-ant-SECRET-abcdef0123456789"
MESSAGES = [{"role": "user", "content": "hello"}]


def _error_class(name: str, status: int | None, base: type[Exception] = Exception) -> type:
    """An exception class that looks like litellm's (its module is litellm.exceptions)."""

    def init(self: Exception, message: str) -> None:
        base.__init__(self, message)
        if status is not None:
            self.status_code = status  # type: ignore[attr-defined]

    return type(name, (base,), {"__module__": "litellm.exceptions", "__init__": init})


class FakeLiteLLM(ModuleType):
    """Records calls; answers from ``replies`` (raising any exception found there)."""

    def __init__(self) -> None:
        super().__init__("litellm")
        self.calls: list[dict[str, Any]] = []
        self.replies: list[Any] = []
        self.APIError = _error_class("APIError", None)
        self.Timeout = _error_class("Timeout", 408)
        self.APIConnectionError = _error_class("APIConnectionError", None)
        self.AuthenticationError = _error_class("AuthenticationError", 401)
        self.RateLimitError = _error_class("RateLimitError", 429)
        self.ServiceUnavailableError = _error_class("ServiceUnavailableError", 503)
        self.BadRequestError = _error_class("BadRequestError", 400)
        self.APIResponseValidationError = _error_class("APIResponseValidationError", None)

    def completion(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        reply = self.replies.pop(0) if self.replies else completion_object("fine")
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def acompletion(self, **kwargs: Any) -> Any:
        await asyncio.sleep(0)
        return self.completion(**kwargs)


def completion_object(text: str) -> SimpleNamespace:
    """Shaped like litellm's ModelResponse (attribute access)."""
    message = SimpleNamespace(role="assistant", content=text)
    return SimpleNamespace(
        model="claude-x",
        choices=[SimpleNamespace(message=message, finish_reason="stop")],
        usage=SimpleNamespace(prompt_tokens=7, completion_tokens=3),
    )


@pytest.fixture
def litellm(monkeypatch: pytest.MonkeyPatch) -> FakeLiteLLM:
    fake = FakeLiteLLM()
    monkeypatch.setitem(sys.modules, "litellm", fake)
    return fake


def make(**kwargs: Any) -> LiteLLMLM:
    return LiteLLMLM("anthropic/claude-x", **kwargs)


def test_missing_litellm_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "litellm", None)  # makes `import litellm` fail
    lm = make()  # constructing needs no litellm; only calling does
    with pytest.raises(ConfigurationError, match=r"pip install 'castlm\[litellm\]'"):
        lm.complete(lm.request(MESSAGES))


def test_completion_arguments_and_parsing(litellm: FakeLiteLLM) -> None:
    lm = make(temperature=0.2, max_tokens=20, api_key=KEY, base_url="http://proxy/", seed=3)
    response = lm.complete(lm.request(MESSAGES, stop=["X"]))
    assert response.text == "fine" and response.model == "claude-x"
    assert response.finish_reason == "stop"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (7, 3)
    assert litellm.calls == [
        {
            "model": "anthropic/claude-x",
            "messages": MESSAGES,
            "temperature": 0.2,
            "max_tokens": 20,
            "stop": ["X"],
            "timeout": 60.0,
            "num_retries": 4,
            "drop_params": True,
            "seed": 3,
            "api_base": "http://proxy",
            "api_key": KEY,
        }
    ]


def test_dict_shaped_response(litellm: FakeLiteLLM) -> None:
    litellm.replies.append(
        {
            "choices": [{"message": {"content": "from a dict"}, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2},
        }
    )
    lm = make()
    response = lm.complete(lm.request(MESSAGES))
    assert (response.text, response.finish_reason) == ("from a dict", "length")
    assert response.model == "anthropic/claude-x" and response.usage.total_tokens == 3


def test_async_completion(litellm: FakeLiteLLM) -> None:
    lm = make()
    response = asyncio.run(lm.acomplete(lm.request(MESSAGES)))
    assert response.text == "fine" and lm.stats.calls == 1


@pytest.mark.parametrize(
    ("name", "error", "status"),
    [
        ("Timeout", LMTimeoutError, 408),
        ("APIConnectionError", LMConnectionError, None),
        ("RateLimitError", LMStatusError, 429),
        ("ServiceUnavailableError", LMStatusError, 503),
        ("BadRequestError", LMStatusError, 400),
        ("APIResponseValidationError", LMResponseError, None),
        ("APIError", LMError, None),
    ],
)
def test_exceptions_are_translated(
    litellm: FakeLiteLLM, name: str, error: type[LMError], status: int | None
) -> None:
    litellm.replies.append(getattr(litellm, name)("provider trouble"))
    lm = make()
    with pytest.raises(error, match="provider trouble") as caught:
        lm.complete(lm.request(MESSAGES))
    assert type(caught.value) is error
    assert caught.value.status_code == status and "anthropic/claude-x" in str(caught.value)


def test_async_exceptions_are_translated(litellm: FakeLiteLLM) -> None:
    litellm.replies.append(litellm.RateLimitError("slow down"))
    lm = make()
    with pytest.raises(LMStatusError, match="slow down"):
        asyncio.run(lm.acomplete(lm.request(MESSAGES)))


def test_auth_error_hides_the_key(litellm: FakeLiteLLM) -> None:
    litellm.replies.append(litellm.AuthenticationError(f"invalid x-api-key {KEY}"))
    lm = make(api_key=KEY)
    with pytest.raises(LMStatusError, match="API key is missing or wrong") as caught:
        lm.complete(lm.request(MESSAGES))
    assert KEY not in str(caught.value) and caught.value.status_code == 401


def test_unrelated_exceptions_pass_through(litellm: FakeLiteLLM) -> None:
    litellm.replies.append(KeyError("a bug, not a provider failure"))
    lm = make()
    with pytest.raises(KeyError):
        lm.complete(lm.request(MESSAGES))


@pytest.mark.parametrize("run_async", [False, True])
def test_response_format_fallback(litellm: FakeLiteLLM, run_async: bool) -> None:
    litellm.replies.append(litellm.BadRequestError("response_format is not supported"))
    lm = make()
    request = lm.request(MESSAGES, response_format={"type": "json_object"})
    result = asyncio.run(lm.acomplete(request)) if run_async else lm.complete(request)
    assert result.text == "fine" and lm.dialect() == "off"
    assert "response_format" in litellm.calls[0] and "response_format" not in litellm.calls[1]


def test_reply_without_text_is_a_response_error(litellm: FakeLiteLLM) -> None:
    litellm.replies.append(SimpleNamespace(choices=[]))
    lm = make()
    with pytest.raises(LMResponseError, match="no text"):
        lm.complete(lm.request(MESSAGES))


def test_key_never_leaks_and_is_not_pickled(litellm: FakeLiteLLM) -> None:
    lm = make(api_key=KEY)
    assert KEY not in repr(lm) and KEY not in lm.cache_namespace
    data = pickle.dumps(lm)
    assert KEY.encode() not in data
    restored = pickle.loads(data)
    restored.complete(restored.request(MESSAGES))
    assert "api_key" not in litellm.calls[-1]


def test_cache_hit_through_the_base_class(litellm: FakeLiteLLM) -> None:
    lm = make(cache=LMCache())
    lm.complete(lm.request(MESSAGES))
    assert lm.complete(lm.request(MESSAGES)).cached
    assert (lm.stats.calls, lm.stats.cache_hits, len(litellm.calls)) == (1, 1, 1)
