"""``execute_tool`` spans: one per tool an agent runs (ReAct's tools, CodeAct's tool calls).

They follow the GenAI semantic conventions' tool-execution span: name ``"execute_tool <name>"``,
kind INTERNAL, ``gen_ai.operation.name`` = ``execute_tool``, ``gen_ai.tool.name``,
``gen_ai.tool.type`` and ``gen_ai.tool.description``. A tool that fails (bad arguments, an
exception) marks its span as an error with ``error.type``. The arguments and the result are
content: they are recorded (``gen_ai.tool.call.arguments`` / ``gen_ai.tool.call.result``) only
when prompts are (``CASTLM_OTEL_CAPTURE_CONTENT``). The span is current while the tool runs, so
the LM calls a tool makes are its children.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager
from typing import Any

from . import _otel

_MAX_CONTENT_CHARS = 4000


class ToolSpan:
    """Records how one tool execution ended on its span (nothing when not tracing)."""

    __slots__ = ("_span",)

    def __init__(self, span: Any) -> None:
        self._span = span

    def finish(self, ok: bool, result: object, error_type: str = "ToolError") -> None:
        """``result``: what the model is shown (text), or the tool's value (made JSON only
        when it is recorded)."""
        span = self._span
        if span is None or not span.is_recording():
            return
        if _otel.capture_content():
            span.set_attribute("gen_ai.tool.call.result", _text(result)[:_MAX_CONTENT_CHARS])
        if not ok:
            span.set_attribute("error.type", error_type)
            span.set_status(_otel.status_error(_text(result)[:500]))


@contextmanager
def execute_tool(name: str, description: str, arguments: object) -> Generator[ToolSpan]:
    """Around one tool execution; ``arguments`` is what the model wrote (text or a mapping)."""
    if _otel.tracer() is None:
        yield ToolSpan(None)
        return
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": name,
        "gen_ai.tool.type": "function",
    }
    if description:
        attrs["gen_ai.tool.description"] = description
    if _otel.capture_content():
        attrs["gen_ai.tool.call.arguments"] = _text(arguments)[:_MAX_CONTENT_CHARS]
    with _otel.start_span(f"execute_tool {name}", attrs) as span:
        yield ToolSpan(span)


def _text(value: object) -> str:
    return value if isinstance(value, str) else _otel.to_json(value)
