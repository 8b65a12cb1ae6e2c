"""Types as the stand-in model sees them: JSON schemas read back from the prompt.

The prompt describes each field's type in words (see ``castlm._types.describe``), except nested
models, whose JSON schema is quoted. Both are turned into one representation, a JSON schema with
every ``$ref`` inlined, so that guessing, checking and coercing values is written once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from ..base._narrow import is_array, is_object

Schema = dict[str, Any]

_MAX_INLINE_DEPTH = 6  # recursive models stop being expanded here
_JSON = json.JSONDecoder()
_WORDS: dict[str, Schema] = {
    "boolean: true or false": {"type": "boolean"},
    "date-time (ISO 8601)": {"type": "string", "format": "date-time"},
    "date (YYYY-MM-DD)": {"type": "string", "format": "date"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "string": {"type": "string"},
    "values": {},
}


def parse_description(text: str, pos: int = 0) -> tuple[Schema, int]:
    """The schema a type description starting at ``pos`` stands for, and where it ends.

    Raises ValueError when the text is not a type description castlm writes.
    """
    schema, pos = _single(text, pos)
    members = [schema]
    while text.startswith(" or ", pos) and not text.startswith(" or null", pos):
        schema, pos = _single(text, pos + 4)
        members.append(schema)
    if text.startswith(", or null", pos):
        members.append({"type": "null"})
        pos += len(", or null")
    return (members[0] if len(members) == 1 else {"anyOf": members}), pos


def _single(text: str, pos: int) -> tuple[Schema, int]:
    if text.startswith("one of: ", pos):
        return _choices(text, pos + len("one of: "))
    if text.startswith("JSON array of ", pos):
        items, end = parse_description(text, pos + len("JSON array of "))
        return {"type": "array", "items": items}, end
    if text.startswith("JSON array [", pos):
        return _tuple(text, pos + len("JSON array ["))
    if text.startswith("JSON object of string keys to ", pos):
        values, end = parse_description(text, pos + len("JSON object of string keys to "))
        return {"type": "object", "additionalProperties": values}, end
    if text.startswith("JSON object matching the schema ", pos):
        schema, end = _JSON.raw_decode(text, pos + len("JSON object matching the schema "))
        if not is_object(schema):
            raise ValueError("the quoted schema is not a JSON object")
        return inline_refs(schema, schema.get("$defs", {})), end
    for phrase, schema in _WORDS.items():
        if text.startswith(phrase, pos):
            return dict(schema), pos + len(phrase)
    raise ValueError(f"no type description at {text[pos : pos + 30]!r}")


def _choices(text: str, pos: int) -> tuple[Schema, int]:
    value, pos = _JSON.raw_decode(text, pos)
    options = [value]
    while text.startswith(", ", pos):
        try:
            value, end = _JSON.raw_decode(text, pos + 2)
        except ValueError:  # ", or null" or the end of a tuple's member
            break
        options.append(value)
        pos = end
    return {"enum": options}, pos


def _tuple(text: str, pos: int) -> tuple[Schema, int]:
    members: list[Schema] = []
    while not text.startswith("]", pos):
        member, pos = parse_description(text, pos)
        members.append(member)
        if text.startswith(", ", pos):
            pos += 2
        elif not text.startswith("]", pos):
            raise ValueError("unterminated tuple description")
    n = len(members)
    return {"type": "array", "prefixItems": members, "minItems": n, "maxItems": n}, pos + 1


def inline_refs(schema: Any, defs: Mapping[str, Any], depth: int = 0) -> Any:
    """``schema`` with every ``#/$defs/...`` reference replaced by its definition."""
    if is_array(schema):
        return [inline_refs(s, defs, depth) for s in schema]
    if not is_object(schema):
        return schema
    if "$ref" in schema:
        if depth >= _MAX_INLINE_DEPTH:
            return {}
        target = defs.get(str(schema["$ref"]).rsplit("/", 1)[-1], {})
        merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return inline_refs(merged, defs, depth + 1)
    return {k: inline_refs(v, defs, depth) for k, v in schema.items() if k != "$defs"}


# -- reading schemas -----------------------------------------------------------------------


def options(schema: Mapping[str, Any]) -> list[Any] | None:
    """The allowed values of a choice type (enum or const), or None for other types."""
    if "enum" in schema and is_array(schema["enum"]):
        return list(schema["enum"])
    if "const" in schema:
        return [schema["const"]]
    return None


def alternatives(schema: Mapping[str, Any]) -> list[Schema]:
    """The members of a union (``anyOf``/``oneOf``/a list of types), or the schema itself."""
    for key in ("anyOf", "oneOf"):
        if is_array(schema.get(key)):
            return [s for s in schema[key] if is_object(s)]
    kinds = schema.get("type")
    if is_array(kinds):
        return [{**schema, "type": k} for k in kinds]
    return [dict(schema)]


def type_of(schema: Mapping[str, Any]) -> str:
    """``choice``, ``boolean``, ``integer``, ``number``, ``string``, ``array``, ``object``,
    ``null``, ``union`` or ``any``."""
    if options(schema) is not None:
        return "choice"
    if len(alternatives(schema)) > 1:
        return "union"
    kind = schema.get("type")
    if isinstance(kind, str):
        return kind
    if "properties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return "any"


def property_schemas(schema: Mapping[str, Any]) -> dict[str, Schema]:
    props = schema.get("properties")
    if not is_object(props):
        return {}
    return {k: v for k, v in props.items() if is_object(v)}


def object_paths(name: str, schema: Mapping[str, Any], depth: int = 0) -> dict[str, Schema]:
    """``name`` and the dotted paths of its nested object properties, with their schemas."""
    found: dict[str, Schema] = {name: dict(schema)}
    if depth >= 4:
        return found
    for alternative in alternatives(schema):
        for prop, sub in property_schemas(alternative).items():
            for path, s in object_paths(f"{name}.{prop}", sub, depth + 1).items():
                found.setdefault(path, s)
    return found


# -- checking and coercing values ----------------------------------------------------------


def conforms(value: Any, schema: Mapping[str, Any]) -> bool:
    """Whether ``value`` fits ``schema`` (types, choices and the common bounds)."""
    kind = type_of(schema)
    if kind == "choice":
        return any(value == o and type(value) is type(o) for o in options(schema) or [])
    if kind == "union":
        return any(conforms(value, s) for s in alternatives(schema))
    check = _CHECKS.get(kind)
    return check(value, schema) if check else True


def _number_ok(value: Any, schema: Mapping[str, Any]) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if schema.get("type") == "integer" and not isinstance(value, int):
        return False
    return (
        value >= schema.get("minimum", value)
        and value <= schema.get("maximum", value)
        and ("exclusiveMinimum" not in schema or value > schema["exclusiveMinimum"])
        and ("exclusiveMaximum" not in schema or value < schema["exclusiveMaximum"])
    )


def _string_ok(value: Any, schema: Mapping[str, Any]) -> bool:
    return isinstance(value, str) and _length_ok(len(value), schema, "Length")


def _array_ok(value: Any, schema: Mapping[str, Any]) -> bool:
    if not is_array(value) or not _length_ok(len(value), schema, "Items"):
        return False
    prefix = schema.get("prefixItems")
    if is_array(prefix):
        return len(value) == len(prefix) and all(map(conforms, value, prefix))
    items = schema.get("items")
    return all(conforms(v, items) for v in value) if is_object(items) else True


def _object_ok(value: Any, schema: Mapping[str, Any]) -> bool:
    if not is_object(value):
        return False
    props = property_schemas(schema)
    required = schema.get("required", [])
    if any(r not in value for r in required):
        return False
    extra = schema.get("additionalProperties")
    for key, v in value.items():
        sub = props.get(key, extra if is_object(extra) else None)
        if sub is not None and not conforms(v, sub):
            return False
    return True


def _length_ok(n: int, schema: Mapping[str, Any], what: str) -> bool:
    return bool(n >= schema.get(f"min{what}", 0) and n <= schema.get(f"max{what}", n))


_CHECKS: dict[str, Callable[[Any, Mapping[str, Any]], bool]] = {
    "boolean": lambda v, s: isinstance(v, bool),
    "integer": _number_ok,
    "number": _number_ok,
    "string": _string_ok,
    "array": _array_ok,
    "object": _object_ok,
    "null": lambda v, s: v is None,
}


def coerce(text: str, schema: Mapping[str, Any]) -> tuple[bool, Any]:
    """Read a value written in prose (a rule's ``billing``, ``true``, ``"mobile app"``) as a
    value of ``schema``; ``(False, None)`` when it does not fit."""
    for alternative in alternatives(schema):
        ok, value = _coerce_one(text.strip(), alternative)
        if ok and conforms(value, alternative):
            return True, value
    return False, None


def _coerce_one(text: str, schema: Mapping[str, Any]) -> tuple[bool, Any]:
    kind = type_of(schema)
    if kind == "choice":
        wanted = _label_key(text)
        for option in options(schema) or []:
            label = json.dumps(option) if isinstance(option, bool) else str(option)
            if _label_key(label) == wanted:
                return True, option
        return False, None
    if kind == "boolean":
        lowered = text.lower()
        return (lowered in _TRUE or lowered in _FALSE), lowered in _TRUE
    if kind == "string":
        return True, text
    try:
        return True, json.loads(text)
    except ValueError:
        return False, None


_TRUE = frozenset({"true", "yes"})
_FALSE = frozenset({"false", "no"})


def _label_key(text: str) -> str:
    """Choice labels compare without case, spacing, underscores or hyphens."""
    return "".join(ch for ch in text.lower() if ch.isalnum())
