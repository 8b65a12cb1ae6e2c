"""Reading a castlm prompt back into its parts, the way the stand-in model "understands" it.

The layout is the one ``castlm._adapter`` writes: a system message listing the inputs and the
outputs with their types, the reply-format rules and, last, the instructions; one user/assistant
pair per demonstration; the final user message with the inputs and a reminder; and, on a parse
retry, the unreadable reply and a user message saying what was wrong. Anything missing or odd is
tolerated: the parts that cannot be read are simply empty.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..base._narrow import is_mapping, is_object
from ..core._adapter import INSTRUCTIONS_HEADER, _first_json_object, _split_sections
from ..lm._lm import Message, message_text
from ._standin_types import Schema, inline_refs, parse_description

RETRY_OPENING = "Your reply could not be read"
_REMINDER = "\n\nRespond with "
_FIELD_LINE = re.compile(r"^- `([^`]+)` \(", re.MULTILINE)
_JSON_MODE = "Reply with one JSON object"
_CHAT_MODE = "Reply with each output under its header"


@dataclass(frozen=True)
class FieldInfo:
    """One declared field: its name, type (as a schema) and description."""

    name: str
    schema: Schema
    desc: str = ""
    text: bool = False  # declared as plain ``str``: written without JSON quoting in chat replies


@dataclass(frozen=True)
class Demo:
    inputs: dict[str, str]
    outputs: dict[str, Any]


@dataclass(frozen=True)
class Prompt:
    inputs: tuple[FieldInfo, ...] = ()
    outputs: tuple[FieldInfo, ...] = ()
    json_mode: bool = False
    instructions: str = ""
    demos: tuple[Demo, ...] = ()
    values: dict[str, str] = field(
        default_factory=dict[str, str]
    )  # the final inputs, as prompt text
    retry_error: str | None = None

    def input_text(self) -> str:
        return "\n".join(self.values.values())


def read_prompt(messages: Sequence[Message], response_format: Mapping[str, Any] | None) -> Prompt:
    """Parse ``messages`` (and the structured-output schema, when sent) into a :class:`Prompt`."""
    # Image parts carry no text the stand-in can read: it sees the text parts only.
    texts: list[dict[str, str]] = [
        {"role": str(m.get("role", "")), "content": message_text(m)}
        for m in messages
        if isinstance(m.get("content"), str | list | tuple)
    ]
    system = texts[0]["content"] if texts and texts[0].get("role") == "system" else ""
    rest = texts[1:] if system else texts
    retry_error = None
    if len(rest) >= 3 and rest[-1]["content"].startswith(RETRY_OPENING):
        retry_error, rest = rest[-1]["content"], rest[:-2]
    final = rest[-1]["content"] if rest and rest[-1].get("role") == "user" else ""
    inputs, outputs = _declared_fields(system, response_format)
    names = [f.name for f in inputs]
    return Prompt(
        inputs=inputs,
        outputs=outputs,
        json_mode=_wants_json(system, final, response_format),
        instructions=_instructions(system),
        demos=tuple(_demos(rest[:-1], names, outputs)),
        values=_input_values(final, names),
        retry_error=retry_error,
    )


def _wants_json(system: str, final: str, response_format: Mapping[str, Any] | None) -> bool:
    if _JSON_MODE in system or _CHAT_MODE in system:
        return _JSON_MODE in system
    return response_format is not None or "Respond with a JSON object" in final


def _instructions(system: str) -> str:
    marker = f"\n\n{INSTRUCTIONS_HEADER}\n"
    at = system.find(marker)
    return system[at + len(marker) :].strip() if at >= 0 else ""


def _declared_fields(
    system: str, response_format: Mapping[str, Any] | None
) -> tuple[tuple[FieldInfo, ...], tuple[FieldInfo, ...]]:
    head = system.split(f"\n\n{INSTRUCTIONS_HEADER}\n", 1)[0]
    inputs_part, _, outputs_part = head.partition("\n\nOutputs:\n")
    inputs = _field_lines(inputs_part)
    outputs = _field_lines(outputs_part)
    structured = _structured_schema(response_format)
    if structured:  # the structured-output schema also carries bounds the prose leaves out
        props = structured.get("properties", {})
        known = {f.name for f in outputs}
        outputs = [
            FieldInfo(f.name, props.get(f.name, f.schema), f.desc, f.text) for f in outputs
        ] + [FieldInfo(name, s) for name, s in props.items() if name not in known]
    return tuple(inputs), tuple(outputs)


def _structured_schema(response_format: Mapping[str, Any] | None) -> Schema | None:
    if response_format is None:
        return None
    wrapper = response_format.get("json_schema")
    schema = wrapper.get("schema") if is_mapping(wrapper) else None
    if not is_object(schema) or not is_object(schema.get("properties")):
        return None
    inlined: Schema = inline_refs(schema, schema.get("$defs", {}))
    return inlined


def _field_lines(block: str) -> list[FieldInfo]:
    found: list[FieldInfo] = []
    for match in _FIELD_LINE.finditer(block):
        line_end = block.find("\n", match.end())
        line_end = len(block) if line_end < 0 else line_end
        found.append(_field_line(match.group(1), block, match.end(), line_end))
    return found


def _field_line(name: str, block: str, start: int, line_end: int) -> FieldInfo:
    try:
        schema, end = parse_description(block, start)
        if not block.startswith(")", end):
            raise ValueError("the type description is not closed")
        desc = block[end + 1 : line_end].removeprefix(":").strip()
        text = block[start:end] == "string"
    except ValueError:  # a type castlm does not write: read it as text, the safest guess
        close = block.find(")", start, line_end)
        desc = block[close + 1 : line_end].removeprefix(":").strip() if close >= 0 else ""
        schema, text = {"type": "string"}, True
    return FieldInfo(name, schema, desc, text)


def _input_values(final: str, names: Sequence[str]) -> dict[str, str]:
    at = final.rfind(_REMINDER)
    body = final[:at] if at >= 0 else final
    return _inputs_of(body, names)


def split_labeled(text: str, names: Sequence[str]) -> dict[str, str]:
    """Read ``name: value`` lines (as :class:`JSONAdapter` writes inputs) back, for ``names``.

    A value may span lines: it runs until the next line that starts with a later name.
    """
    values: dict[str, str] = {}
    starts: list[tuple[int, int, str]] = []
    position = 0
    for name in names:
        found = re.compile(rf"(?:^|\n){re.escape(name)}: ?").search(text, position)
        if found is None:
            continue
        starts.append((found.start(), found.end(), name))
        position = found.end()
    for i, (_, value_start, name) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        values[name] = text[value_start:end]
    return values


def _inputs_of(text: str, names: Sequence[str]) -> dict[str, str]:
    """Inputs written as ``[[ ## name ## ]]`` sections (chat) or ``name: value`` lines (JSON)."""
    if text.lstrip().startswith("[[ ##"):
        return _split_sections(text)
    return split_labeled(text, names)


def _demos(
    pairs: Sequence[Mapping[str, str]], names: Sequence[str], outputs: Sequence[FieldInfo]
) -> list[Demo]:
    demos: list[Demo] = []
    for user, assistant in zip(pairs[0::2], pairs[1::2], strict=False):
        if user.get("role") == "user" and assistant.get("role") == "assistant":
            reply = _reply_values(assistant["content"], outputs)
            demos.append(Demo(_inputs_of(user["content"], names), reply))
    return demos


def _reply_values(text: str, outputs: Sequence[FieldInfo]) -> dict[str, Any]:
    """A demonstration's answer, read as data (JSON object, or one section per field)."""
    if not text.lstrip().startswith("[[ ##"):
        data = _first_json_object(text)
        if data is not None:
            return data
    plain = {f.name for f in outputs if f.text}
    values: dict[str, Any] = {}
    for name, raw in _split_sections(text).items():
        values[name] = raw if name in plain else _json_or_text(raw)
    return values


def _json_or_text(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw
