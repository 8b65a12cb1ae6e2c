"""JSON calls to an OpenAI-compatible REST API other than chat: embeddings, files, jobs.

The chat client (``_openai.py``) streams and negotiates ``response_format``; everything else
castlm sends to such an API is a plain request with a JSON answer. This client does that once,
with the chat client's rules: the same base-URL and API-key resolution (``$CASTLM_BASE_URL`` /
``$OPENAI_BASE_URL``, ``$CASTLM_API_KEY`` / ``$OPENAI_API_KEY``), a key read from the
environment at send time and never stored, an explicit key kept in a :class:`Secret`, server
messages scrubbed of the key, and transient failures (429, 5xx, dropped connections,
timeouts) retried with backoff, honouring ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from typing import Any

import httpx

from ..base._errors import (
    LMConnectionError,
    LMError,
    LMResponseError,
    LMStatusError,
    LMTimeoutError,
)
from ..base._keys import (
    auth_headers,
    basic_credentials,
    check_headers,
    check_key,
    env_key,
    safe_cause,
)
from ..lm._openai import (
    _CREDENTIAL_HEADER_WORDS,
    _TRANSIENT_ERRORS,
    API_KEY_ENV_VARS,
    RETRY_STATUSES,
    Secret,
    _check_url,
    _connect_reason,
    _server_message,
    excerpt,
    resolve_base_url,
    retry_after_seconds,
    scrub,
    split_userinfo,
)
from ..lm._retry import RetryPolicy

Files = Mapping[str, tuple[str, bytes, str]]
"""Multipart files: field name -> (file name, content, content type)."""


class OpenAIRest:
    """Sends requests to ``base_url`` (resolved as for chat) and returns the parsed JSON.

    ``what`` names the API in error messages ("the embeddings endpoint"). Copies share the
    client; pickles hold neither the key nor the client (an unpickled one reads the key from
    the environment).
    """

    def __init__(
        self,
        what: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.what = what
        self.base_url, self._url_auth = split_userinfo(resolve_base_url(base_url))
        _check_url(self.base_url)
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._headers = check_headers(headers or {})
        self._api_key = Secret(check_key(api_key, "passed as api_key=")) if api_key else None
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None

    # -- copying and pickling ------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        skip = ("_api_key", "_url_auth", "_lock", "_client")
        return {k: v for k, v in self.__dict__.items() if k not in skip}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._api_key = self._url_auth = None
        self._lock = threading.Lock()
        self._client = None

    def __deepcopy__(self, memo: dict[int, Any]) -> OpenAIRest:
        return self  # holds no learnable state; a copy would only fork the connection pool

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    # -- sending -------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        files: Files | None = None,
    ) -> Any:
        """The JSON answer of ``method path`` (``path`` below the base URL)."""
        url = f"{self.base_url}/{path.lstrip('/')}"
        attempt = 0
        while True:
            try:
                answer: httpx.Response | httpx.TransportError = self._sync_client().request(
                    method, url, json=json, data=data, files=files, headers=self._auth()
                )
            except httpx.TransportError as exc:
                answer = exc
            wait = self._decide(answer, url, attempt)
            if wait is None:
                assert isinstance(answer, httpx.Response)
                return self._json(answer, url)
            time.sleep(wait)
            attempt += 1

    async def arequest(self, method: str, path: str, *, json: Any = None) -> Any:
        """The asynchronous :meth:`request` (JSON bodies only)."""
        url = f"{self.base_url}/{path.lstrip('/')}"
        # A client per call: an AsyncClient's pool is bound to the event loop that made it.
        async with httpx.AsyncClient(timeout=self.timeout, headers=self._headers) as client:
            attempt = 0
            while True:
                try:
                    answer: httpx.Response | httpx.TransportError = await client.request(
                        method, url, json=json, headers=self._auth()
                    )
                except httpx.TransportError as exc:
                    answer = exc
                wait = self._decide(answer, url, attempt)
                if wait is None:
                    assert isinstance(answer, httpx.Response)
                    return self._json(answer, url)
                await asyncio.sleep(wait)
                attempt += 1

    def _sync_client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(timeout=self.timeout, headers=self._headers)
            return self._client

    # -- credentials ---------------------------------------------------------------------
    def _custom_auth(self) -> bool:
        return any(name.lower() == "authorization" for name in self._headers)

    def _key(self) -> str | None:
        if self._custom_auth():
            return None
        if self._api_key is not None:
            return self._api_key.reveal()
        found = env_key(API_KEY_ENV_VARS)  # read now, never stored; refused if malformed
        return None if found is None else found[0]

    def _auth(self) -> dict[str, str]:
        userinfo = None if self._url_auth is None else self._url_auth.reveal()
        return auth_headers(self._key(), userinfo, custom=self._custom_auth())

    def _secret_texts(self) -> list[str | None]:
        texts: list[str | None] = [self._key()]
        for name, value in self._headers.items():
            if any(word in name.lower() for word in _CREDENTIAL_HEADER_WORDS):
                texts += [value, value.partition(" ")[2]]
        if self._url_auth is not None:
            userinfo = self._url_auth.reveal()
            texts += [userinfo, basic_credentials(userinfo)]
        return texts

    def _quote(self, text: str) -> str:
        for secret in self._secret_texts():
            text = scrub(text, secret)
        return excerpt(text)

    # -- answers -------------------------------------------------------------------------
    def _decide(
        self, answer: httpx.Response | httpx.TransportError, url: str, attempt: int
    ) -> float | None:
        """Seconds to wait before retrying, None for a successful answer; raises otherwise."""
        retry = self.retry.can_retry(attempt)
        if isinstance(answer, httpx.TransportError):
            if retry and isinstance(answer, _TRANSIENT_ERRORS):
                return self.retry.backoff(attempt)
            error = self._transport_error(answer, url, attempt + 1)
            raise error from safe_cause(answer, self._secret_texts())
        if answer.is_success:
            return None
        if retry and answer.status_code in RETRY_STATUSES:
            hint = retry_after_seconds(answer.headers.get("retry-after"))
            return self.retry.delay(attempt, hint)
        raise self._status_error(answer, url, attempt + 1)

    def _json(self, answer: httpx.Response, url: str) -> Any:
        try:
            return answer.json()
        except ValueError:
            raise LMResponseError(
                f"{self.what} at {url} answered HTTP {answer.status_code} with a body that is "
                f"not JSON: {self._quote(answer.text)!r}. Check that the base URL is an "
                "OpenAI-compatible API root (usually ending in /v1).",
                status_code=answer.status_code,
            ) from None

    def _status_error(self, answer: httpx.Response, url: str, attempts: int) -> LMStatusError:
        status = answer.status_code
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        said = f" Server said: {self._quote(_server_message(answer))!r}"
        if status in (401, 403):
            why = (
                "the API key is missing or wrong; set CASTLM_API_KEY (or OPENAI_API_KEY) to a "
                "valid key"
            )
        elif status == 404:
            why = (
                "check the model name and that the base URL is the API root (usually ending "
                "in /v1); set CASTLM_BASE_URL"
            )
        elif status == 429 or status >= 500:
            why = "the server is overloaded or rate-limiting; try again later"
        else:
            why = "the request was rejected"
        return LMStatusError(
            f"{self.what} at {url} answered HTTP {status}{tries}: {why}.{said}",
            status_code=status,
        )

    def _transport_error(self, exc: httpx.TransportError, url: str, attempts: int) -> LMError:
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        if isinstance(exc, httpx.TimeoutException):
            return LMTimeoutError(
                f"{self.what} at {url} did not answer within {self.timeout:g}s{tries}."
            )
        if isinstance(exc, httpx.ConnectError):
            reason = _connect_reason(exc)
        else:
            reason = self._quote(str(exc))
        return LMConnectionError(
            f"could not reach {self.what} at {url}: {reason or type(exc).__name__}{tries}. "
            "Is the server running? Set CASTLM_BASE_URL to its API root."
        )
