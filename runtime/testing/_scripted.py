"""ScriptedLM: replies fixed in advance, for tests that need exact control."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..base._errors import LMError
from ..lm._lm import LM, LMRequest, LMResponse, Message, ResponseCache, Usage

Responder = Callable[[Sequence[Message]], str]


class ScriptedLM(LM):
    """Answers from a list of replies (consumed in order) or from a function of the messages.

    Every request is kept in :attr:`requests`, so tests can assert on the exact prompts.
    """

    def __init__(
        self,
        replies: Iterable[str] | Responder,
        *,
        model: str = "scripted",
        cache: ResponseCache | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(model, cache=cache, **kwargs)
        self._responder: Responder | None = replies if callable(replies) else None
        self._replies: list[str] = [] if callable(replies) else list(replies)
        self._lock = threading.Lock()
        self.requests: list[LMRequest] = []

    def _send(self, request: LMRequest) -> LMResponse:
        with self._lock:
            self.requests.append(request)
            if self._responder is not None:
                text = self._responder(request.messages)
            elif self._replies:
                text = self._replies.pop(0)
            else:
                raise LMError("ScriptedLM ran out of replies")
        prompt = sum(len(m["content"]) for m in request.messages) // 4
        return LMResponse(text, self.model, Usage(prompt, len(text) // 4), "stop")
