"""Type guards for values of unknown type: decoded JSON, provider responses, user data.

``json.loads`` returns ``Any``, and ``isinstance(value, dict)`` narrows that to a dict of
unknown keys and values, which pyright's strict mode reports at every use. These guards
check what they claim and narrow to it. They are ``TypeIs`` guards, so mypy and pyright also
narrow the negative branch (after ``if not is_object(x): return``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:  # annotations only: nothing to load at run time
    from typing_extensions import TypeIs


def is_object(value: object) -> TypeIs[dict[str, Any]]:
    """True for a dict whose keys are strings (every decoded JSON object)."""
    return isinstance(value, dict) and _str_keys(cast("dict[object, object]", value))


def is_json_object(value: object) -> TypeIs[dict[str, Any]]:
    """True for a dict that ``json.loads`` returned (its keys are strings by construction,
    so they are not checked one by one: for the reply-reading path every LM call takes)."""
    return isinstance(value, dict)


def is_mapping(value: object) -> TypeIs[Mapping[str, Any]]:
    """True for a mapping whose keys are strings (keyword inputs, JSON objects, Examples)."""
    return isinstance(value, Mapping) and _str_keys(cast("Mapping[object, object]", value))


def is_any_mapping(value: object) -> TypeIs[Mapping[Any, Any]]:
    """True for any mapping, whatever its keys."""
    return isinstance(value, Mapping)


def is_array(value: object) -> TypeIs[list[Any]]:
    """True for a list (every decoded JSON array)."""
    return isinstance(value, list)


def is_list_or_tuple(value: object) -> TypeIs[list[Any] | tuple[Any, ...]]:
    return isinstance(value, list | tuple)


def is_collection(
    value: object,
) -> TypeIs[list[Any] | tuple[Any, ...] | set[Any] | frozenset[Any]]:
    return isinstance(value, list | tuple | set | frozenset)


def _str_keys(mapping: Mapping[object, object]) -> bool:
    # isinstance() leaves the key and value types unknown; the casts say only "objects".
    return all(isinstance(k, str) for k in mapping)


def is_dict(value: object) -> TypeIs[dict[Any, Any]]:
    """True for any dict, whatever its keys."""
    return isinstance(value, dict)
