"""Adapters: signatures and values to chat messages, and model replies back to typed values.

The prompt has a constant part (system message and demonstrations) and a per-call part (the
inputs). :meth:`Adapter.prefix` renders the constant part; a predictor keeps it until its
instructions or demos change, so a call only formats its own inputs.

Two formats:

* ``ChatAdapter`` writes every field under a ``[[ ## name ## ]]`` header and reads the reply the
  same way; non-text values are written as JSON.
* ``JSONAdapter`` asks for one JSON object holding every output and passes the output schema as
  ``response_format``, which the LM sends in its structured-output dialect (a grammar on
  llama.cpp, ``strict`` JSON schema on OpenAI). Predictors use it when an output needs JSON
  anyway (nested models, lists, dicts), and for every signature when their LM constrains its
  output, so a choice, a flag or a number cannot come back unparseable.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from pydantic import BaseModel, ValidationError

from ..base._errors import ParseError
from ..base._features import not_vendored
from ..base._narrow import is_json_object
from ..lm._lm import ContentPart, Message
from ._signature import FieldSpec, SignatureSpec

if TYPE_CHECKING:
    from pydantic import TypeAdapter

COMPLETED = "completed"
INSTRUCTIONS_HEADER = "Instructions:"
_HEADER = re.compile(r"\[\[ ## (\w+) ## \]\]")
_FENCE = re.compile(r"^```[\w-]*\s*\n?|\n?```\s*$")


def header(name: str) -> str:
    return f"[[ ## {name} ## ]]"


@cache
def _type_adapter(annotation: Any) -> TypeAdapter[Any]:
    from pydantic import TypeAdapter  # on first use: not every program needs one

    return TypeAdapter(annotation)


def to_jsonable(field: FieldSpec, value: Any) -> Any:
    """A field value as plain JSON data (what demos store and what prompts show)."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    adapter = _type_adapter(field.annotation)
    try:
        return adapter.dump_python(adapter.validate_python(value), mode="json")
    except ValidationError:  # a value that does not fit its declared type: keep it as written
        return json.loads(json.dumps(value, default=_plain))


def _plain(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    return dump(mode="json") if callable(dump) else str(value)


class ImageValue(Protocol):
    """What a prompt needs of an image (``castlm.Image``)."""

    def content_part(self) -> dict[str, Any]: ...


def images_in(value: Any) -> list[ImageValue]:
    """An image field's value (an Image, a list of them, their URLs, or None) as Images."""
    try:
        from ..base._image import images_in as read  # type: ignore[import-not-found, unused-ignore]
    except ModuleNotFoundError as exc:  # a package whose program has no Image field
        raise not_vendored("image", "an Image field", exc) from exc
    # cast: the vendored runtime's type checkers may find no _image to read.
    return list(cast("Sequence[ImageValue]", read(value)))


def format_value(field: FieldSpec, value: Any) -> str:
    """A field value as prompt text: strings verbatim, everything else as JSON (images by
    their redacted description: their bytes travel as image parts, see
    ``Adapter.input_content``)."""
    if field.is_image:
        return ", ".join(map(repr, images_in(value))) or "null"
    if isinstance(value, str) and (field.is_text or field.choices is not None):
        return value
    if isinstance(value, enum.Enum):
        value = value.value
        if isinstance(value, str):
            return value
    return json.dumps(to_jsonable(field, value), ensure_ascii=False)


def _field_lines(fields: Sequence[FieldSpec]) -> str:
    lines: list[str] = []
    for f in fields:
        desc = f": {f.desc}" if f.desc else ""
        lines.append(f"- `{f.name}` ({f.type_description}){desc}")
    return "\n".join(lines)


def _sections(fields: Sequence[FieldSpec], values: Mapping[str, Any]) -> str:
    return "\n\n".join(
        f"{header(f.name)}\n{format_value(f, values[f.name])}" for f in fields if f.name in values
    )


class Adapter:
    """Shared machinery; subclasses decide how outputs are written and read."""

    name: str = "adapter"

    def prefix(
        self, spec: SignatureSpec, instructions: str, demos: Sequence[Mapping[str, Any]]
    ) -> tuple[Message, ...]:
        """The constant messages: system prompt, then one user/assistant pair per demo."""
        messages: list[Message] = [{"role": "system", "content": self.system(spec, instructions)}]
        for demo in demos:
            messages.append({"role": "user", "content": self.input_content(spec.inputs, demo)})
            messages.append({"role": "assistant", "content": self.format_outputs(spec, demo)})
        return tuple(messages)

    def system(self, spec: SignatureSpec, instructions: str) -> str:
        return (
            f"Inputs:\n{_field_lines(spec.inputs)}\n\n"
            f"Outputs:\n{_field_lines(spec.outputs)}\n\n"
            f"{self.format_rules(spec)}\n\n"
            f"{INSTRUCTIONS_HEADER}\n{instructions}"
        )

    def user_message(self, spec: SignatureSpec, inputs: Mapping[str, Any], suffix: str) -> Message:
        return {"role": "user", "content": self.input_content(spec.inputs, inputs, suffix)}

    def input_content(
        self, fields: Sequence[FieldSpec], values: Mapping[str, Any], suffix: str = ""
    ) -> str | list[ContentPart]:
        """The inputs of one call (or one demo, or one history turn), then ``suffix``: text or,
        when an image field holds images, content parts, each image right after its label."""
        parts: list[ContentPart] = []
        chunks: list[str] = []  # the text since the last image
        for f in fields:
            if f.name not in values:
                continue
            images = images_in(values[f.name]) if f.is_image else []
            if not images:
                chunks.append(self.input_text(f, values[f.name]))
                continue
            chunks.append(self.input_label(f))
            parts.append({"type": "text", "text": self.input_separator.join(chunks)})
            parts.extend(image.content_part() for image in images)
            chunks = []
        tail = self.input_separator.join(chunks)
        if suffix:
            tail = f"{tail}\n\n{suffix}" if tail else suffix
        if not parts:
            return tail
        if tail:
            parts.append({"type": "text", "text": tail})
        return parts

    # -- castlm.AdapterProtocol ----------------------------------------------------------
    def format_prefix(
        self, spec: SignatureSpec, instructions: str, demos: Sequence[Mapping[str, Any]]
    ) -> Sequence[Message]:
        return self.prefix(spec, instructions, demos)

    def format_inputs(self, spec: SignatureSpec, inputs: Mapping[str, Any]) -> Message:
        return self.user_message(spec, inputs, self.suffix(spec))

    def retry_message(self, spec: SignatureSpec, error: ParseError) -> Message:
        return {
            "role": "user",
            "content": (
                f"Your reply could not be read: {error}\n\n"
                f"Answer again, following this format exactly. {self.reminder(spec)}"
            ),
        }

    # -- per format ----------------------------------------------------------------------
    #: Between two inputs' texts.
    input_separator = "\n\n"

    def input_label(self, field: FieldSpec) -> str:
        """What names an input (an image input's images follow it)."""
        return header(field.name)

    def input_text(self, field: FieldSpec, value: Any) -> str:
        return f"{self.input_label(field)}\n{format_value(field, value)}"

    def suffix(self, spec: SignatureSpec) -> str:
        """What closes the call's own user message ("" for nothing)."""
        return self.reminder(spec)

    def format_rules(self, spec: SignatureSpec) -> str:
        raise NotImplementedError

    def reminder(self, spec: SignatureSpec) -> str:
        """The constant sentence closing every user message."""
        raise NotImplementedError

    def format_outputs(self, spec: SignatureSpec, values: Mapping[str, Any]) -> str:
        raise NotImplementedError

    def response_format(self, spec: SignatureSpec) -> dict[str, Any] | None:
        return None

    def parse(self, spec: SignatureSpec, text: str) -> dict[str, Any]:
        raise NotImplementedError


class ChatAdapter(Adapter):
    name = "chat"

    def format_rules(self, spec: SignatureSpec) -> str:
        skeleton = "\n\n".join(f"{header(f.name)}\n<{f.name}>" for f in spec.outputs)
        return (
            "Reply with each output under its header, in this order, and end with the "
            f"completion marker:\n\n{skeleton}\n\n{header(COMPLETED)}"
        )

    def reminder(self, spec: SignatureSpec) -> str:
        names = ", ".join(f"`{header(f.name)}`" for f in spec.outputs)
        return f"Respond with the fields {names} in order, then `{header(COMPLETED)}`."

    def format_outputs(self, spec: SignatureSpec, values: Mapping[str, Any]) -> str:
        body = _sections(spec.outputs, values)
        return f"{body}\n\n{header(COMPLETED)}" if body else header(COMPLETED)

    def parse(self, spec: SignatureSpec, text: str) -> dict[str, Any]:
        sections = _split_sections(text)
        missing = [f.name for f in spec.outputs if f.name not in sections]
        if missing:
            raise ParseError(
                f"the reply has no {', '.join(header(m) for m in missing)} section",
                raw=text,
                signature=spec.name,
            )
        raw = {f.name: _read_value(f, sections[f.name]) for f in spec.outputs}
        return validate_outputs(spec, raw, text)


class JSONAdapter(Adapter):
    """Outputs as one JSON object; inputs as ``name: value`` lines, with no closing reminder.

    The field markers and the reminder serve the chat format's parser. Here the system message
    states the reply format (and a grammar enforces it where the LM supports one), and on a
    real small model both hurt: SmolLM2-135M with 8 demos on the news benchmark scores 35% with
    markers and a reminder that only the call's own message carries, 67.5% with ``name: value``
    lines and no reminder, because the call then looks like the demonstrations before it.
    """

    name = "json"

    input_separator = "\n"

    def input_label(self, field: FieldSpec) -> str:
        return f"{field.name}:"

    def input_text(self, field: FieldSpec, value: Any) -> str:
        return f"{field.name}: {format_value(field, value)}"

    def suffix(self, spec: SignatureSpec) -> str:
        return ""

    def format_rules(self, spec: SignatureSpec) -> str:
        keys = ", ".join(json.dumps(f.name) for f in spec.outputs)
        return f"Reply with one JSON object, and nothing else, whose keys are {keys}."

    def reminder(self, spec: SignatureSpec) -> str:
        keys = ", ".join(json.dumps(f.name) for f in spec.outputs)
        return f"Respond with a JSON object with the keys {keys}."

    def format_outputs(self, spec: SignatureSpec, values: Mapping[str, Any]) -> str:
        data = {f.name: to_jsonable(f, values[f.name]) for f in spec.outputs if f.name in values}
        return json.dumps(data, ensure_ascii=False)

    def response_format(self, spec: SignatureSpec) -> dict[str, Any] | None:
        return spec.response_format

    def parse(self, spec: SignatureSpec, text: str) -> dict[str, Any]:
        data = _first_json_object(text)
        if data is None:
            raise ParseError("the reply is not a JSON object", raw=text, signature=spec.name)
        missing = [f.name for f in spec.outputs if f.name not in data]
        if missing:
            raise ParseError(
                f"the JSON object has no key {', '.join(map(json.dumps, missing))}",
                raw=text,
                signature=spec.name,
            )
        return validate_outputs(spec, data, text)


def _split_sections(text: str) -> dict[str, str]:
    sections: dict[str, str] = {}
    matches = list(_HEADER.finditer(text))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        name = match.group(1)
        if name != COMPLETED and name not in sections:
            sections[name] = text[match.end() : end].strip()
    return sections


# A JSON value starts with one of these; anything else is read as text without trying (and
# failing, expensively) to decode it.
_JSON_START = frozenset('[{"-0123456789tfn')


def _read_value(field: FieldSpec, text: str) -> Any:
    if field.is_text:
        return text
    text = text.strip()
    if text.startswith("```"):
        text = _FENCE.sub("", text).strip()
    if field.choices is not None:
        return _match_choice(field.choices, text)
    if text[:1] in _JSON_START:
        try:
            return json.loads(text)
        except (ValueError, RecursionError):  # too deep to decode: validation rejects the text
            pass
    return text


def _match_choice(options: tuple[Any, ...], value: str) -> Any:
    """Accept a choice written with other casing or quotes, as models often do."""
    cleaned = value.strip().strip("`'\"").strip()
    for option in options:
        if str(option) == cleaned:
            return option
    for option in options:
        if str(option).lower() == cleaned.lower():
            return option
    return cleaned


def _first_json_object(text: str) -> dict[str, Any] | None:
    cleaned = _FENCE.sub("", text.strip()).strip()
    start = cleaned.find("{")
    while start != -1:
        try:
            value, _ = _DECODER.raw_decode(cleaned, start)
        except RecursionError:  # nested deeper than any answer: no object to read
            return None
        except ValueError:
            start = cleaned.find("{", start + 1)
            continue
        return value if is_json_object(value) else None
    return None


_DECODER = json.JSONDecoder()  # stateless: one for every reply


def validate_outputs(spec: SignatureSpec, raw: Mapping[str, Any], text: str) -> dict[str, Any]:
    try:
        model: BaseModel = spec.output_model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise ParseError(
            f"invalid output values ({problems})", raw=text, signature=spec.name
        ) from exc
    return {f.name: getattr(model, f.name) for f in spec.outputs}


CHAT = ChatAdapter()
JSON = JSONAdapter()


def choose(spec: SignatureSpec, mode: Literal["auto", "chat", "json"]) -> Adapter:
    """``auto`` uses JSON when some output is structured and the chat format otherwise."""
    if mode == "json" or (mode == "auto" and spec.structured):
        return JSON
    return CHAT
