"""OpenTelemetry spans for module calls, predictor calls and LM requests.

LM request spans follow the GenAI semantic conventions (``gen_ai.*`` attributes, span name
``"chat <model>"``, kind CLIENT; ``gen_ai.provider.name``, which replaced ``gen_ai.system``).
A reply served from castlm's cache is no client call: its span is INTERNAL, named
``"castlm.cache_hit <model>"``, and carries no ``gen_ai.*`` attribute (no tokens, no cost).
Tool executions get ``"execute_tool <name>"`` spans (see :mod:`castlm.observe._tool_span`).

Prompts and replies are recorded only on opt-in
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
import time
from collections.abc import Mapping
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from ..base._narrow import is_list_or_tuple, is_mapping

if TYPE_CHECKING:
    from ..lm._lm import LM, LMRequest, LMResponse, Message

CAPTURE_ENV = "CASTLM_OTEL_CAPTURE_CONTENT"
_TRUE = frozenset({"1", "true", "yes", "on"})

_UNRESOLVED: Any = object()
_lock = threading.Lock()
_tracer: Any = _UNRESOLVED
_api: Any = None  # opentelemetry.trace, once imported
_context: Any = None  # opentelemetry.context, once imported
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
    global _tracer, _api, _context
    with _lock:
        if _tracer is not _UNRESOLVED:
            return _tracer
        _tracer = None
        if not _settings.enabled:
            return None
        try:
            _api = importlib.import_module("opentelemetry.trace")
            _context = importlib.import_module("opentelemetry.context")
        except ImportError:
            return None
        from ..base._version import __version__

        provider = _settings.tracer_provider or _api.get_tracer_provider()
        _tracer = provider.get_tracer("castlm", __version__)
        return _tracer


def capture_content() -> bool:
    if _settings.capture_content is not None:
        return bool(_settings.capture_content)
    return os.environ.get(CAPTURE_ENV, "").strip().lower() in _TRUE


# LiteLLM's model prefixes whose well-known ``gen_ai.provider.name`` differs from the prefix.
_PROVIDERS = {
    "azure": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "bedrock": "aws.bedrock",
    "gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai",
    "mistral": "mistral_ai",
    "watsonx": "ibm.watsonx.ai",
    "xai": "x_ai",
}


def provider_of(lm: LM) -> str:
    """The ``gen_ai.provider.name`` of an LM: its declared provider, else the model's prefix
    (as a well-known value where the conventions name one)."""
    declared = getattr(lm, "gen_ai_system", None)
    if isinstance(declared, str) and declared:
        return declared
    if "/" in lm.model:
        prefix = lm.model.split("/", 1)[0]
        return _PROVIDERS.get(prefix, prefix)
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


class LMSpan:
    """One LM request's span, created when the request ends: only then is it known whether
    the cache answered (an INTERNAL span without usage) or the backend did (a CLIENT span).
    It keeps the start time and the parent that was current when the request started."""

    __slots__ = ("lm", "parent", "request", "start_ns", "streaming", "tracer")

    def __init__(self, t: Any, lm: LM, request: LMRequest, streaming: bool) -> None:
        self.tracer = t
        self.lm = lm
        self.request = request
        self.streaming = streaming
        self.parent = _context.get_current()
        self.start_ns = time.time_ns()


def start_lm_span(lm: LM, request: LMRequest, *, streaming: bool) -> LMSpan | None:
    """The pending span of one LM request, or None when not tracing."""
    t = tracer()
    if t is None:
        return None
    return LMSpan(t, lm, request, streaming)


def end_lm_span(span: LMSpan, response: LMResponse | None, error: BaseException | None) -> None:
    cached = response is not None and response.cached
    made = _cache_hit_span(span) if cached else _client_span(span)
    if made.is_recording():
        if response is not None and not cached:
            _set_response(made, response)
        if error is not None:
            _set_error(made, error)
    made.end()


def _cache_hit_span(span: LMSpan) -> Any:
    attrs: dict[str, Any] = {"castlm.cache_hit": True, "castlm.request.model": span.request.model}
    if span.streaming:
        attrs["castlm.stream"] = True
    return span.tracer.start_span(
        f"castlm.cache_hit {span.request.model}",
        context=span.parent,
        kind=_api.SpanKind.INTERNAL,
        attributes=attrs,
        start_time=span.start_ns,
    )


def _client_span(span: LMSpan) -> Any:
    request = span.request
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider_of(span.lm),
        "gen_ai.request.model": request.model,
        "gen_ai.output.type": _output_type(request),
        **server_of(span.lm),
    }
    if request.temperature is not None:
        attrs["gen_ai.request.temperature"] = request.temperature
    if request.max_tokens is not None:
        attrs["gen_ai.request.max_tokens"] = request.max_tokens
    if span.streaming:
        attrs["castlm.stream"] = True
    made = span.tracer.start_span(
        f"chat {request.model}",
        context=span.parent,
        kind=_api.SpanKind.CLIENT,
        attributes=attrs,
        start_time=span.start_ns,
    )
    if capture_content() and made.is_recording():
        made.set_attribute("gen_ai.input.messages", _messages_json(request.messages))
    return made


def _output_type(request: LMRequest) -> str:
    """``json`` when the request asks for structured output, else ``text``."""
    wants_json = request.response_format is not None and request.structured_output != "off"
    return "json" if wants_json else "text"


def _set_response(span: Any, response: LMResponse) -> None:
    span.set_attribute("gen_ai.response.model", response.model)
    if response.id:
        span.set_attribute("gen_ai.response.id", response.id)
    span.set_attribute("gen_ai.usage.input_tokens", response.usage.prompt_tokens)
    span.set_attribute("gen_ai.usage.output_tokens", response.usage.completion_tokens)
    span.set_attribute("castlm.cache_hit", False)
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


def status_error(description: str) -> Any:
    """An ERROR span status (for failures that are not exceptions)."""
    return _api.Status(_api.StatusCode.ERROR, description)


def to_json(value: object) -> str:
    """``value`` as JSON for a span attribute (what JSON cannot hold becomes its repr)."""
    return json.dumps(value, ensure_ascii=False, default=repr)


def _set_error(span: Any, error: BaseException) -> None:
    span.set_attribute("error.type", type(error).__qualname__)
    span.set_status(_api.Status(_api.StatusCode.ERROR, str(error)[:500]))
    span.record_exception(error)


def _messages_json(messages: tuple[Message, ...]) -> str:
    parts = [{"role": m.get("role", ""), "parts": _parts(m.get("content", ""))} for m in messages]
    return json.dumps(parts, ensure_ascii=False)


def _parts(content: object) -> list[dict[str, Any]]:
    if isinstance(content, str) or not is_list_or_tuple(content):
        return [{"type": "text", "content": content}]
    parts = [p for p in content if is_mapping(p)]
    return [
        {"type": "text", "content": p.get("text")} if p.get("type") == "text" else _redacted(p)
        for p in parts
    ]


# What a span shows of an image in a package compiled without Image support (a hand-built
# message): tracing must neither fail the call nor write the image's base64.
UNREDACTABLE_IMAGE = {"type": "image_url", "image_url": {"url": "<image, not shown>"}}


def _redacted(part: Mapping[str, Any]) -> dict[str, Any]:
    """An image part never reaches a span as base64: base/_image.py describes it by media
    type, size and hash where the package has it, and it is left out where not."""
    if part.get("type") != "image_url":
        return dict(part)
    try:
        from ..base._image import redacted_part  # type: ignore[import-not-found, unused-ignore]
    except ModuleNotFoundError:
        return dict(UNREDACTABLE_IMAGE)
    # cast: the vendored runtime's type checkers may find no _image to read.
    return dict(cast("Mapping[str, Any]", redacted_part(part)))


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
