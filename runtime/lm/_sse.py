"""Reading a streamed OpenAI-compatible chat completion (server-sent events).

The server sends ``data: {json chunk}`` lines, each chunk carrying a piece of the reply in
``choices[0].delta.content``; a final chunk may carry ``usage`` (when the request asked for it
with ``stream_options``), and ``data: [DONE]`` ends the stream. Every chunk of these APIs fits
on one ``data:`` line, so each line is read as one event.
"""

from __future__ import annotations

import json
from typing import Any

from ..base._errors import LMResponseError, LMStatusError
from ..base._narrow import is_array, is_object
from ._lm import LMResponse, Usage

DONE = "[DONE]"


class ChunkReader:
    """Accumulates one streamed completion, line by line."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.parts: list[str] = []
        self.finish_reason: str | None = None
        self.usage = Usage()
        self.done = False
        self.id = ""

    @property
    def delivered(self) -> bool:
        """Whether any reply text has been handed out (a retry could no longer continue it)."""
        return bool(self.parts)

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def complete(self) -> bool:
        """``[DONE]`` arrived, or at least a finish reason (some servers omit ``[DONE]``)."""
        return self.done or self.finish_reason is not None

    def feed(self, line: str) -> str | None:
        """Read one line; the reply text it adds, if any."""
        if not line.startswith("data:") or self.done:
            return None  # blank separators, comments, event:/id:/retry: fields
        data = line[5:].strip()
        if data == DONE:
            self.done = True
            return None
        try:
            chunk = json.loads(data)
        except (ValueError, RecursionError):
            raise LMResponseError(
                f"the stream sent a chunk that is not JSON: {data[:200]!r}"
            ) from None
        if not is_object(chunk):
            raise LMResponseError(f"the stream sent a chunk that is not an object: {data[:200]!r}")
        return self._read(chunk)

    def _read(self, chunk: dict[str, Any]) -> str | None:
        if "error" in chunk:
            raise _stream_error(chunk["error"])
        if isinstance(chunk.get("model"), str) and chunk["model"]:
            self.model = chunk["model"]
        if isinstance(chunk.get("id"), str) and chunk["id"]:
            self.id = chunk["id"]
        if is_object(chunk.get("usage")):
            self.usage = _usage(chunk["usage"])
        choices = chunk.get("choices")
        if not is_array(choices) or not choices or not is_object(choices[0]):
            return None
        choice = choices[0]
        if isinstance(choice.get("finish_reason"), str):
            self.finish_reason = choice["finish_reason"]
        delta = choice.get("delta")
        content = delta.get("content") if is_object(delta) else None
        if isinstance(content, str) and content:
            self.parts.append(content)
            return content
        return None

    def response(self) -> LMResponse:
        return LMResponse(self.text, self.model, self.usage, self.finish_reason, id=self.id)


def _usage(raw: dict[str, Any]) -> Usage:
    prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
    return Usage(
        prompt if isinstance(prompt, int) else 0,
        completion if isinstance(completion, int) else 0,
    )


def _stream_error(error: object) -> LMStatusError:
    message = error.get("message") if is_object(error) else error
    code = error.get("code") if is_object(error) else None
    return LMStatusError(
        f"the server reported an error in the middle of the stream: {str(message)[:300]}",
        status_code=code if isinstance(code, int) else None,
    )
