"""Learning from a parse-retry message: bounds the first reply broke.

Type descriptions in chat prompts do not state bounds such as ``ge=1`` or ``max_length=20``, so
a first guess can break them. The retry message quotes pydantic's complaints
(``score: Input should be greater than or equal to 1``); reading those back as JSON-schema
bounds lets the second reply respect them, the way a model corrects itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..base._narrow import is_object
from ._standin_prompt import FieldInfo
from ._standin_types import Schema, alternatives, property_schemas

_PROBLEM = re.compile(r"([\w.]+): ([^;()]+)")
_BOUNDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"greater than or equal to (-?[\d.]+)"), "minimum"),
    (re.compile(r"greater than (-?[\d.]+)"), "exclusiveMinimum"),
    (re.compile(r"less than or equal to (-?[\d.]+)"), "maximum"),
    (re.compile(r"less than (-?[\d.]+)"), "exclusiveMaximum"),
    (re.compile(r"String should have at least (\d+)"), "minLength"),
    (re.compile(r"String should have at most (\d+)"), "maxLength"),
    (re.compile(r"should have at least (\d+) items?"), "minItems"),
    (re.compile(r"should have at most (\d+) items?"), "maxItems"),
)


def bounds_from_error(error: str) -> dict[str, dict[str, float]]:
    """The bounds named in a retry message, by dotted field path."""
    found: dict[str, dict[str, float]] = {}
    for path, problem in _PROBLEM.findall(error):
        for pattern, key in _BOUNDS:
            if m := pattern.search(problem):
                found.setdefault(path, {})[key] = float(m.group(1))
                break
    return found


def with_bounds(outputs: Sequence[FieldInfo], error: str) -> tuple[FieldInfo, ...]:
    """``outputs`` with the bounds of ``error`` added to their schemas."""
    bounds = bounds_from_error(error)
    patched: list[FieldInfo] = []
    for f in outputs:
        schema = f.schema
        for path, extra in bounds.items():
            keys = path.split(".")
            if keys[0] == f.name:
                schema = _patched(schema, keys[1:], extra)
        patched.append(FieldInfo(f.name, schema, f.desc, f.text))
    return tuple(patched)


def _patched(schema: Schema, keys: list[str], extra: dict[str, float]) -> Schema:
    if not keys:
        return _add(schema, extra)
    result = dict(schema)
    if "anyOf" in schema:
        result["anyOf"] = [_patched(s, keys, extra) for s in alternatives(schema)]
    props = property_schemas(schema)
    if keys[0] in props:
        result["properties"] = {**props, keys[0]: _patched(props[keys[0]], keys[1:], extra)}
    elif keys[0].isdigit() and is_object(schema.get("items")):  # a list item
        result["items"] = _patched(schema["items"], keys[1:], extra)
    return result


def _add(schema: Schema, extra: dict[str, float]) -> Schema:
    if "anyOf" in schema:
        return {**schema, "anyOf": [_add(s, extra) for s in alternatives(schema)]}
    whole = schema.get("type") != "number"
    return {**schema, **{k: (int(v) if whole else v) for k, v in extra.items()}}
