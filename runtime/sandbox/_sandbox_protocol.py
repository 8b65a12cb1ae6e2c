"""What the sandbox's child says, read as untrusted input.

Model-written code runs in the child and can write anything to its stdout, including lines
that look like protocol messages. Everything here turns a line into a typed value, never an
exception: a line that is not what an honest child sends becomes a ``"protocol"`` result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from ..base._narrow import is_array, is_object
from ..tools._tool import truncate

# Room past a text's cap for the child's own "... [truncated: N more characters]".
_MARKER_ROOM = 64

ResultKind = Literal["ok", "error", "timeout", "killed", "too_large", "protocol"]


@dataclass(frozen=True, slots=True)
class SandboxResult:
    """The outcome of one run.

    ``kind``: "ok"; "error" (the code raised, or did something the sandbox refuses);
    "timeout" (the wall-clock limit); "killed" (the process died: CPU or memory limit, a
    crash); "too_large" (the child sent a message longer than the sandbox reads);
    "protocol" (the child sent something that is not a message, e.g. code writing forged lines
    to its stdout). After any kind but "ok" and "error" the process is gone. ``output`` is
    what the code printed (capped), ``value`` the JSON value of a final bare expression (None
    if there was none, it is not JSON, or ``value_dropped``: its JSON was too large to send
    back; ``value_repr`` still shows it), ``value_repr`` its repr.
    """

    kind: ResultKind
    output: str = ""
    value: Any = None
    value_repr: str | None = None
    error: str | None = None
    value_dropped: bool = False

    @property
    def ok(self) -> bool:
        return self.kind == "ok"

    def observation(self, max_chars: int = 4000) -> str:
        """What a model is shown: the output, the value, or what went wrong."""
        parts: list[str] = []
        if self.output:
            parts.append(self.output.rstrip("\n"))
        if self.ok and self.value_repr is not None:
            parts.append(self.value_repr)
        if not self.ok:
            parts.append(f"Error: {self.error}")
        return truncate("\n".join(parts) if parts else "(no output)", max_chars)


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    args: list[Any]
    kwargs: dict[str, Any]


def broken(what: str) -> SandboxResult:
    return SandboxResult("protocol", error=f"the sandbox broke its protocol: {what}")


def decode(line: bytes) -> dict[str, Any] | SandboxResult:
    """One line as a JSON object."""
    try:
        message = json.loads(line)
    except RecursionError:
        return broken("a message nested too deeply")
    except ValueError:  # also invalid UTF-8 and integers too long to convert
        return broken("a line that is not JSON")
    if not is_object(message):
        return broken(f"a line that is not a JSON object ({type(message).__name__})")
    return message


def parse_reply(message: dict[str, Any], max_chars: int, run_id: int) -> ToolCall | SandboxResult:
    """A message during run ``run_id``: its result or a tool call."""
    kind = message.get("type")
    if kind == "tool_call":
        return _tool_call(message)
    if kind == "result":
        echoed = message.get("run")
        if type(echoed) is not int or echoed != run_id:  # left over from a forged earlier line
            return broken(f"a result for run {_short(echoed)} during run {run_id}")
        return _result(message, max_chars)
    return broken(f"unexpected message type {_short(kind)}")


def _tool_call(message: dict[str, Any]) -> ToolCall | SandboxResult:
    name, args, kwargs = message.get("name"), message.get("args"), message.get("kwargs")
    if not isinstance(name, str) or not is_array(args) or not is_object(kwargs):
        return broken("a tool call without a name, a list of args and a dict of kwargs")
    return ToolCall(name, args, kwargs)


def _result(message: dict[str, Any], max_chars: int) -> SandboxResult:
    ok, output, dropped = message.get("ok"), message.get("output", ""), message.get("dropped", 0)
    if not isinstance(ok, bool) or not isinstance(output, str):
        return broken("a result without a boolean 'ok' and a string 'output'")
    if type(dropped) is not int or dropped < 0:  # bool is an int; a count is not
        return broken(f"a result whose 'dropped' is not a count: {_short(dropped)}")
    output = truncate(output, max_chars + _MARKER_ROOM)
    if dropped:
        output += f"\n... [output truncated: {dropped} more characters]"
    if not ok:
        error = message.get("error")
        if not isinstance(error, str):
            return broken("a failed result without a string 'error'")
        return SandboxResult("error", output, error=truncate(error, max_chars + _MARKER_ROOM))
    value_repr, value_dropped = message.get("value_repr"), message.get("value_dropped", False)
    if not (value_repr is None or isinstance(value_repr, str)) or not isinstance(
        value_dropped, bool
    ):
        return broken("a result whose 'value_repr' or 'value_dropped' has the wrong type")
    if value_repr is not None:
        value_repr = truncate(value_repr, max_chars + _MARKER_ROOM)
    return SandboxResult("ok", output, message.get("value"), value_repr, None, value_dropped)


def _short(value: Any) -> str:
    return truncate(repr(value), 80)
