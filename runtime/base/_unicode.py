"""Lone surrogates: code points a Python ``str`` may hold but UTF-8 cannot encode.

They arrive through ``\\ud800``-style JSON escapes, in data and in LM replies. Sent on,
hashed or written to a file they fail deep inside with a bare UnicodeEncodeError, so
castlm finds them where they come in and names them.
"""

from __future__ import annotations

from collections.abc import Iterable

from ._narrow import is_any_mapping, is_collection


def surrogate_in(value: object) -> str | None:
    """Describe the first lone surrogate in ``value`` (a string, or strings nested in
    mappings, sequences and pydantic models), or None when there is none."""
    if isinstance(value, str):
        if value.isascii():  # the common case, and a cheap one
            return None
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"a lone surrogate ({value[exc.start]!r} at character {exc.start})"
        return None
    items: Iterable[object]
    if is_any_mapping(value):
        items = (x for pair in value.items() for x in pair)
    elif is_collection(value):
        items = value
    elif hasattr(value, "__pydantic_fields__"):  # models and pydantic dataclasses
        items = vars(value).values()
    else:
        return None
    return next((found for item in items if (found := surrogate_in(item))), None)
