"""History: earlier turns of a conversation, as a typed input field.

Declare ``history: castlm.History = castlm.InputField()`` on a signature. Each turn is a dict
of that signature's field values (``{"question": ..., "answer": ...}``); the adapter renders
every turn as a user message (its inputs) and an assistant message (its outputs), in order,
between the demos and the current input.

A History is bounded: past ``max_turns`` turns or ``max_chars`` characters of values, the
oldest turns are dropped, so a long conversation cannot grow the prompt without limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..lm._lm import Message
from ._adapter import Adapter
from ._signature import SignatureSpec

DEFAULT_MAX_TURNS = 20
DEFAULT_MAX_CHARS = 32_000


class History(BaseModel):
    """Earlier turns, oldest first; immutable: :meth:`add` returns a new History."""

    model_config: ClassVar[ConfigDict] = ConfigDict(frozen=True, defer_build=True)
    # How predictors recognise a History field without importing this module.
    __castlm_history__: ClassVar[bool] = True

    messages: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]])
    max_turns: int = Field(default=DEFAULT_MAX_TURNS, ge=0)
    max_chars: int = Field(default=DEFAULT_MAX_CHARS, ge=0)

    @model_validator(mode="after")
    def _bounded(self) -> History:
        kept = _newest_within(self.messages, self.max_turns, self.max_chars)
        if len(kept) != len(self.messages):
            object.__setattr__(self, "messages", kept)  # frozen, but still being built
        return self

    def add(self, turn: Mapping[str, Any] | None = None, /, **fields: Any) -> History:
        """A History with one more turn (oldest ones dropped if it would exceed a bound)."""
        return History(
            messages=[*self.messages, {**(turn or {}), **fields}],
            max_turns=self.max_turns,
            max_chars=self.max_chars,
        )

    def __len__(self) -> int:
        return len(self.messages)


def _chars(turn: Mapping[str, Any]) -> int:
    return sum(len(v) if isinstance(v, str) else len(str(v)) for v in turn.values())


def _newest_within(
    turns: list[dict[str, Any]], max_turns: int, max_chars: int
) -> list[dict[str, Any]]:
    kept: list[dict[str, Any]] = []
    total = 0
    for turn in reversed(turns[-max_turns:] if max_turns else []):
        total += _chars(turn)
        if total > max_chars:
            break
        kept.append(turn)
    kept.reverse()
    return kept


def render(
    spec: SignatureSpec, adapter: Adapter, values: Mapping[str, Any], names: Sequence[str]
) -> tuple[list[Message], dict[str, Any]]:
    """The messages of the earlier turns, and the current inputs without the history."""
    current = {k: v for k, v in values.items() if k not in names}
    inputs = [f for f in spec.inputs if f.name not in names]
    messages: list[Message] = []
    for name in names:
        history = values.get(name)
        if not isinstance(history, History):
            continue
        for turn in history.messages:
            messages.append({"role": "user", "content": adapter.input_content(inputs, turn)})
            messages.append({"role": "assistant", "content": adapter.format_outputs(spec, turn)})
    return messages, current
