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
from castlm.lm._cache import LMCache
from castlm.lm._fallback import FallbackLM
from castlm.lm._litellm import LiteLLMLM
from castlm.lm._retry import RetryPolicy
from castlm.testing import StandInLM

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
    for var in ("CASTLM_BASE_URL", "CASTLM_API_KEY"):
        monkeypatch.delenv(var, raising=False)
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
            "num_retries": 0,
            "max_retries": 0,
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
    lm = make(max_retries=0)
    with pytest.raises(error, match="provider trouble") as caught:
        lm.complete(lm.request(MESSAGES))
    assert type(caught.value) is error
    assert caught.value.status_code == status and "anthropic/claude-x" in str(caught.value)


def test_async_exceptions_are_translated(litellm: FakeLiteLLM) -> None:
    litellm.replies.append(litellm.RateLimitError("slow down"))
    lm = make(max_retries=0)
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


# -- retries are castlm's, and every litellm failure is an LMError ---------------------------


def test_transient_failures_are_retried_by_castlm(litellm: FakeLiteLLM) -> None:
    litellm.replies += [litellm.ServiceUnavailableError("busy"), litellm.Timeout("slow")]
    lm = make(retry=RetryPolicy(max_retries=2, backoff_base=0.0))
    assert lm.complete(lm.request(MESSAGES)).text == "fine"
    assert len(litellm.calls) == 3


def test_permanent_failures_are_not_retried(litellm: FakeLiteLLM) -> None:
    litellm.replies.append(litellm.BadRequestError("no such parameter"))
    lm = make(retry=RetryPolicy(max_retries=3, backoff_base=0.0))
    with pytest.raises(LMStatusError):
        lm.complete(lm.request(MESSAGES))
    assert len(litellm.calls) == 1


_RAISED_INSIDE_LITELLM = compile(
    "def completion(error):\n    raise Exception('tenacity import failed') from error\n",
    "litellm/main.py",
    "exec",
)


def test_a_bare_exception_raised_by_litellm_is_an_lm_error(litellm: FakeLiteLLM) -> None:
    # litellm raises a plain Exception when an optional package it wants is missing.
    namespace: dict[str, Any] = {"__name__": "litellm.main"}
    exec(_RAISED_INSIDE_LITELLM, namespace)
    cause = litellm.AuthenticationError(f"bad key {KEY}")
    lm = make(api_key=KEY, max_retries=0)
    litellm.completion = lambda **kwargs: namespace["completion"](cause)  # type: ignore[method-assign]
    with pytest.raises(LMStatusError, match="tenacity import failed") as caught:
        lm.complete(lm.request(MESSAGES))
    assert caught.value.status_code == 401 and KEY not in str(caught.value)


def test_fallback_lm_falls_back_past_a_failing_litellm_lm(litellm: FakeLiteLLM) -> None:
    namespace: dict[str, Any] = {"__name__": "litellm.main"}
    exec(_RAISED_INSIDE_LITELLM, namespace)
    litellm.completion = lambda **kwargs: namespace["completion"](None)  # type: ignore[method-assign]
    chain = FallbackLM([make(max_retries=0), StandInLM()])
    assert chain.complete(chain.request(MESSAGES)).text


# -- keys and endpoints ----------------------------------------------------------------------


def test_castlm_environment_sets_endpoint_and_key(
    litellm: FakeLiteLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASTLM_BASE_URL", "http://127.0.0.1:9/v1/")
    monkeypatch.setenv("CASTLM_API_KEY", KEY)
    lm = make()
    lm.complete(lm.request(MESSAGES))
    assert litellm.calls[0]["api_base"] == "http://127.0.0.1:9/v1"
    assert litellm.calls[0]["api_key"] == KEY
    assert KEY.encode() not in pickle.dumps(lm)


@pytest.mark.parametrize("bad", [KEY + "\n", " " + KEY, KEY[:5] + "\x1b" + KEY[5:]])
def test_malformed_keys_are_refused_without_showing_them(
    litellm: FakeLiteLLM, monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    with pytest.raises(ConfigurationError, match="api_key=") as caught:
        make(api_key=bad)
    assert KEY[6:] not in str(caught.value)
    monkeypatch.setenv("CASTLM_API_KEY", bad)
    lm = make()
    with pytest.raises(ConfigurationError, match=r"\$CASTLM_API_KEY") as caught:
        lm.complete(lm.request(MESSAGES))
    assert KEY[6:] not in str(caught.value) and litellm.calls == []
