"""A backend over litellm, for providers that do not speak the OpenAI protocol.

litellm is a heavy optional dependency (``pip install 'castlm[litellm]'``), so it is imported
inside the methods that use it: importing castlm, or an emitted package that never selects a
``litellm/...`` model, must not require it. Its exceptions are translated into castlm's
:class:`castlm.LMError` hierarchy so callers handle every backend the same way.

castlm retries transient failures itself, with the :class:`castlm.RetryPolicy` and the status
list of the OpenAI-compatible client: litellm's own retries need the optional ``tenacity``
package and, without it, turn every failure into a bare ``Exception``.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import time
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

from ..base._errors import (
    ConfigurationError,
    LMConnectionError,
    LMError,
    LMResponseError,
    LMStatusError,
    LMTimeoutError,
)
from ..base._keys import check_key, env_key, safe_cause
from ..base._narrow import is_list_or_tuple, is_mapping
from ..base._structured import Dialect, DialectRejected, dialect_of, names_dialect
from ._lm import LMRequest, LMResponse, ResponseCache, Usage
from ._openai import RETRY_STATUSES, KeyedLM, Secret, excerpt, retry_after_seconds, scrub
from ._retry import RetryPolicy

_INSTALL_HINT = "pip install 'castlm[litellm]'"

# litellm exception class name -> castlm error, most specific first. Looked up by name so that
# litellm versions that lack a class (or a stand-in module in tests) still work.
_ERROR_MAP: tuple[tuple[str, type[LMError]], ...] = (
    ("Timeout", LMTimeoutError),
    ("APIConnectionError", LMConnectionError),
    ("APIResponseValidationError", LMResponseError),
)
_AUTH_ERRORS = ("AuthenticationError", "PermissionDeniedError")
# Errors raised from inside these packages are litellm's to report; anything else is a bug.
_WRAPPED_MODULES = ("litellm", "openai", "httpx")
#: castlm's own settings, used when the constructor is not given ``base_url`` / ``api_key``.
BASE_URL_ENV_VAR = "CASTLM_BASE_URL"
API_KEY_ENV_VAR = "CASTLM_API_KEY"


def import_litellm() -> ModuleType:
    """The litellm module, or a ConfigurationError saying how to install it."""
    try:
        # import_module rather than an import statement: type checkers need no litellm stubs.
        return importlib.import_module("litellm")
    except ImportError as exc:
        raise ConfigurationError(
            f"this LM needs the optional litellm package, which is not installed: {_INSTALL_HINT}"
        ) from exc


class LiteLLMLM(KeyedLM):
    """Any model litellm supports, e.g. ``LiteLLMLM("anthropic/claude-3-5-haiku-latest")``.

    ``base_url`` defaults to ``$CASTLM_BASE_URL`` and ``api_key`` to ``$CASTLM_API_KEY`` (read
    at send time, never stored); without them litellm uses its own provider settings
    (``ANTHROPIC_API_KEY`` and friends). Transient failures (timeouts, dropped connections,
    HTTP 408, 409, 429, 5xx) are retried ``max_retries`` times with backoff (or as ``retry``
    says). Extra keyword arguments are passed to ``litellm.completion``. An explicit
    ``api_key`` is not pickled.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 4,
        temperature: float | None = None,
        max_tokens: int | None = None,
        cache: ResponseCache | None = None,
        retry: RetryPolicy | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        stop: str | Sequence[str] | None = None,
        reasoning_effort: str | None = None,
        extra_body: Mapping[str, Any] | None = None,
        structured_output: Dialect = "auto",
        **litellm_kwargs: Any,
    ) -> None:
        super().__init__(
            model,
            temperature=temperature,
            max_tokens=max_tokens,
            cache=cache,
            top_p=top_p,
            seed=seed,
            stop=stop,
            reasoning_effort=reasoning_effort,
            extra_body=extra_body,
            structured_output=structured_output,
        )
        if not model:
            raise ConfigurationError("LiteLLMLM needs a model name, e.g. 'anthropic/claude-...'")
        if "max_connections" in litellm_kwargs:
            # Not a litellm keyword: sent on, it would fail every call at the provider.
            raise ConfigurationError(
                "max_connections sizes the connection pool of castlm's OpenAI-compatible client "
                "('openai/<model>' names); litellm keeps its own pool. Leave max_connections "
                "(and CASTLM_MAX_CONNECTIONS) unset for 'litellm/' models."
            )
        base_url = base_url or os.environ.get(BASE_URL_ENV_VAR, "").strip()
        self.base_url: str | None = base_url.rstrip("/") if base_url else None
        self.timeout = timeout
        self.retry: RetryPolicy = retry or RetryPolicy(max_retries)
        self.litellm_kwargs: dict[str, Any] = dict(litellm_kwargs)
        self._api_key = Secret(check_key(api_key, "passed as api_key=")) if api_key else None

    @property
    def max_retries(self) -> int:
        return self.retry.max_retries

    @property
    def cache_namespace(self) -> str:
        return f"litellm:{self.base_url or 'default'}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r})"

    # -- sending ---------------------------------------------------------------------------
    def _send(self, request: LMRequest) -> LMResponse:
        litellm = import_litellm()
        kwargs = self._kwargs(request)
        attempt = 0
        while True:
            try:
                raw = litellm.completion(**kwargs)
            except Exception as exc:
                time.sleep(self._after_failure(exc, kwargs, attempt))
                attempt += 1
            else:
                return self._parse(raw)

    async def _asend(self, request: LMRequest) -> LMResponse:
        litellm = import_litellm()
        kwargs = self._kwargs(request)
        attempt = 0
        while True:
            try:
                raw = await litellm.acompletion(**kwargs)
            except Exception as exc:
                await asyncio.sleep(self._after_failure(exc, kwargs, attempt))
                attempt += 1
            else:
                return self._parse(raw)

    def _after_failure(self, exc: Exception, kwargs: dict[str, Any], attempt: int) -> float:
        """Seconds to wait before sending ``kwargs`` again; raises the translated error when
        the failure is final (or DialectRejected when structured output was refused)."""
        self._check_dialect(exc, kwargs)
        error = self._translate(exc)
        if error is exc:
            raise exc  # not a provider failure: a bug, reported as it is
        if self.retry.can_retry(attempt) and _transient(error):
            return self.retry.delay(attempt, _retry_after(exc))
        raise error from safe_cause(exc, [self._key()])

    def _key(self) -> str | None:
        if self._api_key is not None:
            return self._api_key.reveal()
        found = env_key((API_KEY_ENV_VAR,))  # read now, never stored; refused if malformed
        return None if found is None else found[0]

    def _kwargs(self, request: LMRequest) -> dict[str, Any]:
        kwargs = request.payload()
        # payload() shares the request's message dicts; litellm may edit what it is given.
        kwargs["messages"] = [dict(m) for m in kwargs["messages"]]
        kwargs.update(
            timeout=self.timeout,
            # castlm retries (see the module docstring); the OpenAI SDK inside must not either.
            num_retries=0,
            max_retries=0,
            # litellm drops parameters a provider does not support instead of failing.
            drop_params=True,
            **self.litellm_kwargs,
        )
        if self.base_url:
            kwargs["api_base"] = self.base_url
        key = self._key()
        if key is not None:
            kwargs["api_key"] = key
        return kwargs

    def _check_dialect(self, exc: Exception, kwargs: Mapping[str, Any]) -> None:
        """An error that complains about the structured-output parameter rejects the dialect
        (castlm.LM then tries the next one under ``auto``)."""
        dialect = dialect_of(kwargs)
        status = getattr(exc, "status_code", None)
        status = status if isinstance(status, int) else 400
        if dialect is not None and names_dialect(dialect, status, str(exc)):
            said = excerpt(scrub(str(exc), self._key()))
            raise DialectRejected(dialect, status, said) from None

    # -- translating -----------------------------------------------------------------------
    def _translate(self, exc: Exception) -> Exception:
        """The castlm error for a litellm failure; unrelated exceptions pass through.

        A failure is litellm's when its class comes from litellm (or the SDKs it drives), when
        it carries an HTTP status, or when litellm raised it as a bare ``Exception`` (as it
        does when an optional package is missing): then the provider's error it was raised
        from, if any, decides the class.
        """
        if _is_provider_error(exc):
            known: BaseException = exc
        elif _raised_by_litellm(exc):
            known = _provider_error(exc.__cause__ or exc.__context__) or exc
        else:
            return exc
        status = getattr(known, "status_code", None)
        status = status if isinstance(status, int) else None
        names = {cls.__name__ for cls in type(known).__mro__}
        text = str(exc) if known is exc else f"{exc} (raised from {type(known).__name__}: {known})"
        detail = excerpt(scrub(text, self._key()))
        where = f"litellm call for model {self.model!r} failed ({type(known).__name__}"
        where += f", HTTP {status})" if status is not None else ")"
        if names & set(_AUTH_ERRORS):
            return LMStatusError(
                f"{where}: the API key is missing or wrong. Set the provider's key variable "
                f"(e.g. ANTHROPIC_API_KEY) or pass api_key=... Details: {detail}",
                status_code=status,
            )
        for name, error in _ERROR_MAP:
            if name in names:
                return error(f"{where}: {detail}", status_code=status)
        if status is not None:
            return LMStatusError(f"{where}: {detail}", status_code=status)
        return LMError(f"{where}: {detail}")

    def _parse(self, raw: Any) -> LMResponse:
        choices = _field(raw, "choices")
        choice = choices[0] if is_list_or_tuple(choices) and choices else None
        message = _field(choice, "message")
        text = _field(message, "content")
        if not isinstance(text, str):
            raise LMResponseError(
                f"litellm returned no text for model {self.model!r}: "
                f"{excerpt(repr(raw))!r}. The provider may have refused or called a tool."
            )
        model = _field(raw, "model")
        finish = _field(choice, "finish_reason")
        return LMResponse(
            text=text,
            model=model if isinstance(model, str) and model else self.model,
            usage=_usage(_field(raw, "usage")),
            finish_reason=finish if isinstance(finish, str) else None,
            id=response_id if isinstance(response_id := _field(raw, "id"), str) else "",
        )


def _transient(error: Exception) -> bool:
    if isinstance(error, LMTimeoutError | LMConnectionError):
        return True
    return isinstance(error, LMStatusError) and error.status_code in RETRY_STATUSES


def _retry_after(exc: Exception) -> float | None:
    """The ``Retry-After`` of the HTTP answer behind a litellm/OpenAI SDK error, if any."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    value = headers.get("retry-after") if is_mapping(headers) else None
    return retry_after_seconds(value if isinstance(value, str) else None)


def _is_provider_error(exc: BaseException) -> bool:
    """Whether ``exc`` belongs to litellm or the SDKs it drives, or carries an HTTP status."""
    status = getattr(exc, "status_code", None)
    return type(exc).__module__.split(".")[0] in _WRAPPED_MODULES or isinstance(status, int)


def _provider_error(exc: BaseException | None) -> BaseException | None:
    """The first provider error in the chain starting at ``exc``."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:  # chains can, rarely, form a cycle
        seen.add(id(exc))
        if _is_provider_error(exc):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _raised_by_litellm(exc: BaseException) -> bool:
    """Whether the innermost frame that raised ``exc`` is litellm's code."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    module = tb.tb_frame.f_globals.get("__name__", "")
    return isinstance(module, str) and module.split(".")[0] == "litellm"


def _field(obj: Any, name: str) -> Any:
    """``obj.name`` or ``obj[name]``: litellm objects support both, dicts only the latter."""
    if obj is None:
        return None
    if is_mapping(obj):
        return obj.get(name)
    return getattr(obj, name, None)


def _usage(raw: Any) -> Usage:
    prompt, completion = _field(raw, "prompt_tokens"), _field(raw, "completion_tokens")
    return Usage(
        prompt_tokens=prompt if isinstance(prompt, int) else 0,
        completion_tokens=completion if isinstance(completion, int) else 0,
    )
