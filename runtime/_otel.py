"""OpenTelemetry spans for module calls, predictor calls and LM requests.

LM request spans follow the GenAI semantic conventions (``gen_ai.*`` attributes, span name
``"chat <model>"``, kind CLIENT). Prompts and replies are recorded only on opt-in
(``CASTLM_OTEL_CAPTURE_CONTENT=true`` or ``configure_tracing(capture_content=True)``): they may
hold personal data. API keys never reach a span: no header is recorded, and endpoint URLs are
reduced to host and port.

opentelemetry is optional. It is imported on the first traced call, not with castlm, and when
it is missing (or tracing is switched off) :func:`tracer` returns None once and for all, so
the cost is one attribute read per call.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import threading
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from ._lm import LM, LMRequest, LMResponse, Message

CAPTURE_ENV = "CASTLM_OTEL_CAPTURE_CONTENT"
_TRUE = frozenset({"1", "true", "yes", "on"})

_UNRESOLVED: Any = object()
_lock = threading.Lock()
_tracer: Any = _UNRESOLVED
_api: Any = None  # opentelemetry.trace, once imported
_provider_set = False  # a real tracer provider has been installed globally
_settings = SimpleNamespace(enabled=True, capture_content=None, tracer_provider=None)


def configure_tracing(
    *,
    enabled: bool = True,
    capture_content: bool | None = None,
    tracer_provider: Any = None,
) -> None:
    """Choose how castlm traces.

    ``enabled=False`` stops creating spans. ``capture_content`` records prompts and replies
    (default: ``$CASTLM_OTEL_CAPTURE_CONTENT``). ``tracer_provider`` replaces the global
    provider (``opentelemetry.trace.set_tracer_provider``) for castlm's spans.
    """
    global _tracer, _provider_set
    with _lock:
        _provider_set = False
        _settings.enabled = enabled
        _settings.capture_content = capture_content
        _settings.tracer_provider = tracer_provider
        _tracer = _UNRESOLVED


def tracer() -> Any:
    """castlm's tracer, or None when tracing is off, opentelemetry is not installed, or no
    tracer provider has been set (the API alone records nothing: spans would be wasted work).
    """
    global _provider_set
    found = _tracer
    if found is _UNRESOLVED:
        found = _resolve()
    if found is None or _provider_set or _settings.tracer_provider is not None:
        return found
    # The application may set its provider after castlm's first call, so this is checked on
    # every call until it has happened (it happens at most once: the API refuses a second).
    # The global is read directly: get_tracer_provider() consults os.environ each time,
    # which costs more than the rest of the check; _resolve() already let it load a provider
    # named by $OTEL_PYTHON_TRACER_PROVIDER.
    provider = getattr(_api, "_TRACER_PROVIDER", _UNRESOLVED)
    if provider is _UNRESOLVED:  # an API without that global: ask the slow, public way
        provider = _api.get_tracer_provider()
    if provider is None or isinstance(provider, _api.ProxyTracerProvider):
        return None
    _provider_set = True
    return found


def _resolve() -> Any:
    global _tracer, _api
    with _lock:
        if _tracer is not _UNRESOLVED:
            return _tracer
        _tracer = None
        if not _settings.enabled:
            return None
        try:
            _api = importlib.import_module("opentelemetry.trace")
        except ImportError:
            return None
        from . import __version__

        provider = _settings.tracer_provider or _api.get_tracer_provider()
        _tracer = provider.get_tracer("castlm", __version__)
        return _tracer


def capture_content() -> bool:
    if _settings.capture_content is not None:
        return bool(_settings.capture_content)
    return os.environ.get(CAPTURE_ENV, "").strip().lower() in _TRUE


def system_of(lm: LM) -> str:
    """The ``gen_ai.system`` of an LM: its declared provider, else the model's prefix."""
    declared = getattr(lm, "gen_ai_system", None)
    if isinstance(declared, str) and declared:
        return declared
    if "/" in lm.model:
        return lm.model.split("/", 1)[0]
    return type(lm).__name__.lower()


def server_of(lm: LM) -> dict[str, Any]:
    base = getattr(lm, "base_url", None)
    if not isinstance(base, str) or not base:
        return {}
    parts = urlsplit(base)  # credentials were split off the URL when the LM was made
    attrs: dict[str, Any] = {"server.address": parts.hostname or ""}
    if parts.port is not None:
        attrs["server.port"] = parts.port
    return attrs


def start_lm_span(lm: LM, request: LMRequest, *, streaming: bool) -> Any:
    """A started (not current) CLIENT span for one LM request, or None when not tracing."""
    t = tracer()
    if t is None:
        return None
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": system_of(lm),
        "gen_ai.request.model": request.model,
        **server_of(lm),
    }
    if request.temperature is not None:
        attrs["gen_ai.request.temperature"] = request.temperature
    if request.max_tokens is not None:
        attrs["gen_ai.request.max_tokens"] = request.max_tokens
    if streaming:
        attrs["castlm.stream"] = True
    span = t.start_span(f"chat {request.model}", kind=_api.SpanKind.CLIENT, attributes=attrs)
    if capture_content() and span.is_recording():
        span.set_attribute("gen_ai.input.messages", _messages_json(request.messages))
    return span


def end_lm_span(span: Any, response: LMResponse | None, error: BaseException | None) -> None:
    if span.is_recording():
        if response is not None:
            _set_response(span, response)
        if error is not None:
            _set_error(span, error)
    span.end()


def _set_response(span: Any, response: LMResponse) -> None:
    span.set_attribute("gen_ai.response.model", response.model)
    span.set_attribute("gen_ai.usage.input_tokens", response.usage.prompt_tokens)
    span.set_attribute("gen_ai.usage.output_tokens", response.usage.completion_tokens)
    span.set_attribute("castlm.cache_hit", response.cached)
    if response.finish_reason:
        span.set_attribute("gen_ai.response.finish_reasons", [response.finish_reason])
    if capture_content():
        reply = [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": response.text}],
                "finish_reason": response.finish_reason or "",
            }
        ]
        span.set_attribute("gen_ai.output.messages", json.dumps(reply, ensure_ascii=False))


def _set_error(span: Any, error: BaseException) -> None:
    span.set_attribute("error.type", type(error).__qualname__)
    span.set_status(_api.Status(_api.StatusCode.ERROR, str(error)[:500]))
    span.record_exception(error)


def _messages_json(messages: tuple[Message, ...]) -> str:
    parts = [{"role": m.get("role", ""), "parts": _parts(m.get("content", ""))} for m in messages]
    return json.dumps(parts, ensure_ascii=False)


def _parts(content: object) -> list[dict[str, Any]]:
    if isinstance(content, str) or not isinstance(content, Sequence):
        return [{"type": "text", "content": content}]
    from ._image import redacted_part  # images never reach a span as base64

    return [
        {"type": "text", "content": p["text"]} if p.get("type") == "text" else redacted_part(p)
        for p in content
        if isinstance(p, Mapping)
    ]


def start_span(name: str, attributes: Mapping[str, Any]) -> Any:
    """A context manager: an INTERNAL span, current inside the block (a no-op when not
    tracing)."""
    t = tracer()
    if t is None:
        return contextlib.nullcontext()
    return t.start_as_current_span(
        name, attributes=dict(attributes), record_exception=True, set_status_on_exception=True
    )


def start_detached_span(name: str, attributes: Mapping[str, Any]) -> Any:
    """A started span that is not made current (for generators, which cannot hold a context
    across their yields), or None."""
    t = tracer()
    if t is None:
        return None
    return t.start_span(name, attributes=dict(attributes))


def use_span(span: Any) -> Any:
    """Make ``span`` current in a ``with`` block, without ending it."""
    return _api.use_span(span, end_on_exit=False)


def end_span(span: Any, error: BaseException | None) -> None:
    if error is not None and span.is_recording():
        _set_error(span, error)
    span.end()
