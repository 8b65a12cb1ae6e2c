"""A backend over litellm, for providers that do not speak the OpenAI protocol.

litellm is a heavy optional dependency (``pip install 'castlm[litellm]'``), so it is imported
inside the methods that use it: importing castlm, or an emitted package that never selects a
``litellm/...`` model, must not require it. Its exceptions are translated into castlm's
:class:`castlm.LMError` hierarchy so callers handle every backend the same way.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

from ._errors import (
    ConfigurationError,
    LMConnectionError,
    LMError,
    LMResponseError,
    LMStatusError,
    LMTimeoutError,
)
from ._lm import LMRequest, LMResponse, ResponseCache, Usage
from ._openai import KeyedLM, Secret, excerpt, scrub
from ._structured import Dialect, DialectRejected, dialect_of, names_dialect

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

    Credentials and endpoints default to litellm's own provider settings (``ANTHROPIC_API_KEY``
    and friends); ``api_key`` / ``base_url`` override them. litellm retries transient failures
    itself (``max_retries``). Extra keyword arguments are passed to ``litellm.completion``.
    An explicit ``api_key`` is not pickled.
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
        self.base_url = base_url.rstrip("/") if base_url else None
        self.timeout = timeout
        self.max_retries = max_retries
        self.litellm_kwargs = dict(litellm_kwargs)
        self._api_key = Secret(api_key) if api_key else None

    @property
    def cache_namespace(self) -> str:
        return f"litellm:{self.base_url or 'default'}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r})"

    # -- sending ---------------------------------------------------------------------------
    def _send(self, request: LMRequest) -> LMResponse:
        litellm = import_litellm()
        kwargs = self._kwargs(request)
        try:
            raw = litellm.completion(**kwargs)
        except Exception as exc:
            self._check_dialect(exc, kwargs)
            raise self._translate(exc) from exc
        return self._parse(raw)

    async def _asend(self, request: LMRequest) -> LMResponse:
        litellm = import_litellm()
        kwargs = self._kwargs(request)
        try:
            raw = await litellm.acompletion(**kwargs)
        except Exception as exc:
            self._check_dialect(exc, kwargs)
            raise self._translate(exc) from exc
        return self._parse(raw)

    def _kwargs(self, request: LMRequest) -> dict[str, Any]:
        kwargs = request.payload()
        kwargs.update(
            timeout=self.timeout,
            num_retries=self.max_retries,
            # litellm drops parameters a provider does not support instead of failing.
            drop_params=True,
            **self.litellm_kwargs,
        )
        if self.base_url:
            kwargs["api_base"] = self.base_url
        if self._api_key is not None:
            kwargs["api_key"] = self._api_key.reveal()
        return kwargs

    def _check_dialect(self, exc: Exception, kwargs: Mapping[str, Any]) -> None:
        """An error that complains about the structured-output parameter rejects the dialect
        (castlm.LM then tries the next one under ``auto``)."""
        dialect = dialect_of(kwargs)
        status = getattr(exc, "status_code", None)
        status = status if isinstance(status, int) else 400
        text = str(exc)
        if dialect is not None and names_dialect(dialect, status, text):
            secret = self._api_key.reveal() if self._api_key else None
            raise DialectRejected(dialect, status, excerpt(scrub(text, secret))) from None

    # -- translating -----------------------------------------------------------------------
    def _translate(self, exc: Exception) -> Exception:
        """The castlm error for a litellm failure; unrelated exceptions pass through."""
        module = type(exc).__module__.split(".")[0]
        status = getattr(exc, "status_code", None)
        status = status if isinstance(status, int) else None
        if module not in _WRAPPED_MODULES and status is None:
            return exc
        names = {cls.__name__ for cls in type(exc).__mro__}
        detail = excerpt(scrub(str(exc), self._api_key.reveal() if self._api_key else None))
        where = f"litellm call for model {self.model!r} failed ({type(exc).__name__}"
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
        choice = choices[0] if isinstance(choices, list | tuple) and choices else None
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
        )


def _field(obj: Any, name: str) -> Any:
    """``obj.name`` or ``obj[name]``: litellm objects support both, dicts only the latter."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _usage(raw: Any) -> Usage:
    prompt, completion = _field(raw, "prompt_tokens"), _field(raw, "completion_tokens")
    return Usage(
        prompt_tokens=prompt if isinstance(prompt, int) else 0,
        completion_tokens=completion if isinstance(completion, int) else 0,
    )
