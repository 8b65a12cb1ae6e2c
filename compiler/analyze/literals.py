"""Values of literal expressions the analyzer needs to read (names, keys, descriptions)."""

from __future__ import annotations

import libcst as cst


def string_value(node: cst.BaseExpression) -> str | None:
    """The value of a plain (possibly implicitly concatenated) string literal."""
    if isinstance(node, cst.SimpleString | cst.ConcatenatedString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None
