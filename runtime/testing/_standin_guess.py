"""The stand-in model's weak guesses: a well-formed value of any declared type.

A guess is what the model answers when neither a rule nor a similar demonstration decides a
field. It is deliberately weak (that is what optimizers improve on) but always valid:

* a choice: the option whose label words the inputs mention (the most words, then the earliest
  mention), else an option picked by hash;
* a boolean: picked by hash;
* a number: 0, moved into the declared bounds;
* a string: the input sentence sharing the most words with the field's name and description,
  else the first sentence (dates and date-times get a fixed date);
* arrays get one guessed item (none below the second nesting level), objects every property.

Hashes are taken of the inputs and the field's path, so the same inputs get the same guess; a
sampling request (temperature > 0) adds the whole prompt and the rollout to the hash.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..base._narrow import is_array, is_object
from ._standin_text import STOPWORDS, content_words, mention_at, sentences, words
from ._standin_types import alternatives, options, property_schemas, type_of

_FIXED_DATE = "2000-01-01"
_FIXED_DATETIME = "2000-01-01T00:00:00"


@dataclass(frozen=True)
class Guesser:
    """Guesses values for one prompt; ``seed(path)`` is the hash behind every arbitrary pick."""

    text: str
    seed: Callable[[str], int]
    sampling: bool = False

    def value(self, schema: Mapping[str, Any], path: str, hint: str, depth: int = 0) -> Any:
        kind = type_of(schema)
        if kind == "choice":
            return self.choice(options(schema) or [None], path)
        if kind == "union":
            members = [s for s in alternatives(schema) if type_of(s) != "null"]
            return self.value(members[0], path, hint, depth) if members else None
        if kind == "boolean":
            return self.seed(path) % 2 == 1
        if kind in ("integer", "number"):
            return _bounded(schema, kind == "integer")
        if kind == "string":
            return self._string(schema, path, hint)
        if kind == "array":
            return self._array(schema, path, hint, depth)
        if kind == "object":
            return self._object(schema, path, depth)
        return None

    def choice(self, choices: list[Any], path: str) -> Any:
        named = self._mentioned_option(choices)
        return named if named is not None else choices[self.seed(path) % len(choices)]

    def _mentioned_option(self, choices: list[Any]) -> Any:
        best: tuple[int, int] = (0, 0)
        found = None
        for option in choices:
            if not isinstance(option, str):
                continue
            labels = [w for w in words(option.replace("_", " ")) if w not in STOPWORDS]
            spots = [mention_at(self.text, w) for w in labels]
            hits = [s for s in spots if s >= 0]
            score = (len(hits), -min(hits)) if hits else (0, 0)
            if hits and (found is None or score > best):
                best, found = score, option
        return found

    def _string(self, schema: Mapping[str, Any], path: str, hint: str) -> str:
        if schema.get("format") == "date":
            return _FIXED_DATE
        if schema.get("format") == "date-time":
            return _FIXED_DATETIME
        text = self.sentence(hint, path)
        low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
        text = text[: int(high)] if isinstance(high, int) else text
        return text.ljust(low, ".")

    def sentence(self, hint: str, path: str) -> str:
        """The input sentence closest to ``hint`` in words (ties: the first, or a seeded pick)."""
        found = sentences(self.text)
        if not found:
            return " ".join(words(hint)[:3])
        wanted = content_words(hint)
        scores = [len(content_words(s) & wanted) for s in found]
        top = [s for s, score in zip(found, scores, strict=True) if score == max(scores)]
        return top[self.seed(path) % len(top)] if self.sampling else top[0]

    def _array(self, schema: Mapping[str, Any], path: str, hint: str, depth: int) -> list[Any]:
        prefix = schema.get("prefixItems")
        if is_array(prefix):
            return [self.value(s, f"{path}.{i}", hint, depth + 1) for i, s in enumerate(prefix)]
        items = schema.get("items")
        items = items if is_object(items) else {"type": "string"}
        count = max(int(schema.get("minItems", 0)), 1 if depth < 2 else 0)
        if isinstance(schema.get("maxItems"), int):
            count = min(count, int(schema["maxItems"]))
        return [self.value(items, f"{path}.{i}", hint, depth + 1) for i in range(count)]

    def _object(self, schema: Mapping[str, Any], path: str, depth: int) -> dict[str, Any]:
        required = set(schema.get("required", []))
        result: dict[str, Any] = {}
        for name, sub in property_schemas(schema).items():
            if name in required or depth < 3:
                hint = f"{name} {sub.get('description', '')} {sub.get('title', '')}"
                result[name] = self.value(sub, f"{path}.{name}", hint, depth + 1)
        return result


def _bounded(schema: Mapping[str, Any], integer: bool) -> int | float:
    """0, or the value nearest to it inside the declared bounds."""
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    low_open = "minimum" not in schema and low is not None
    high_open = "maximum" not in schema and high is not None
    if integer:
        floor = None if low is None else math.floor(low) + 1 if low_open else math.ceil(low)
        ceiling = None if high is None else math.ceil(high) - 1 if high_open else math.floor(high)
        value = 0 if floor is None else max(0, floor)
        return value if ceiling is None else min(value, ceiling)
    above = low is None or low < 0 or (low == 0 and not low_open)
    below = high is None or high > 0 or (high == 0 and not high_open)
    if above and below:
        return 0.0
    if low is not None and high is not None:
        return (float(low) + float(high)) / 2
    if low is not None:
        return float(low) + (_nudge(low) if low_open else 0)
    assert high is not None  # both bounds absent returned 0.0 above
    return float(high) - (_nudge(high) if high_open else 0)


def _nudge(bound: float) -> float:
    """A step past an open bound small enough not to cross a bound on the other side."""
    return max(abs(bound) * 0.01, 0.01)
