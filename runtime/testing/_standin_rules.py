"""The rules the stand-in model follows when its instructions state them, and how it writes them.

Grammar (case-insensitive; one rule per sentence or line; list bullets are ignored)::

    When the <subject> mentions <phrases>, <field> is <value>.
    If the <subject> mentions <phrases>, set <field> to <value>.
    If the <subject> mentions <phrases>, it is <value>.
    <field> is <value> when the <subject> mentions <phrases>.
    <Subject>s that mention <phrases> are [not] <value>.

``mentions`` may also be ``contains``, ``includes``, ``says``, ``refers to`` or ``is about``.
``<phrases>`` is one or more phrases joined by ``or`` or commas, quoted (``"cannot log in"``) or
not (``a refund``: a leading article is dropped). A phrase is mentioned when it occurs in the
text as whole words, ignoring case, its last word possibly inflected (``refund`` matches
``refunds``, ``refunded``). ``<subject>`` names an input field (``ticket``, ``tickets``); any
other subject (``input``, ``message``) means all inputs. ``<field>`` names an output field or a
nested property (``customer.plan``, ``customer plan``, or just ``plan`` when that is unique).
Without a field, the value picks the field: the boolean output it names (``are urgent`` sets
``urgent`` to true, ``are not urgent`` to false), else the first output whose choices contain it.
Values are read for the field's type: a choice label, ``true``/``false``/``yes``/``no``, a
number, or text (quoted text keeps its exact spelling). When several rules set the same field,
the first one stated wins.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._standin_prompt import FieldInfo
from ._standin_text import mention_at
from ._standin_types import Schema, coerce, object_paths, options, type_of

_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"|\u201c([^\u201d]*)\u201d')
_MARK = "\x01"
_SPLIT = re.compile(r"(?<=[.!?;])\s+|\n+")
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s*")
_ARTICLE = re.compile(r"^(?:a|an|the|any|some)\s+", re.IGNORECASE)

_VERB = r"(?:mentions?|contains?|includes?|says|refers? to|talks? about|is about)"
_SUBJECT = r"(?:the\s+|an?\s+)?(?P<subject>[\w' -]+?)"
_CONDITION = rf"(?:when|if|whenever)\s+{_SUBJECT}\s+{_VERB}\s+(?P<phrases>.+)"
_WHEN = re.compile(rf"{_CONDITION}\s*,\s*(?:then\s+)?(?P<rest>.+)", re.IGNORECASE)
_REVERSE = re.compile(
    r"(?:the\s+)?(?P<field>[\w.' -]+?)\s+(?:is|should be|must be)\s+(?P<value>.+?)\s+" + _CONDITION,
    re.IGNORECASE,
)
_PLURAL = re.compile(
    rf"{_SUBJECT}\s+(?:that|which)\s+{_VERB}\s+(?P<phrases>.+?)\s+(?:are|is)\s+"
    r"(?P<neg>not\s+)?(?P<value>.+)",
    re.IGNORECASE,
)
_CONSEQUENCES = [
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"(?:it|this|that)(?:'s|\s+is|\s+should be|\s+must be)\s+(?P<value>.+)",
        r"(?:answer|label it|mark it|classify it)(?:\s+as)?\s+(?P<value>.+)",
        r"set\s+(?:the\s+)?(?P<field>[\w.' -]+?)\s+to\s+(?P<value>.+)",
        r"(?:the\s+)?(?P<field>[\w.' -]+?)\s+(?:is|should be|must be|=)\s+(?P<value>.+)",
    )
]


@dataclass(frozen=True)
class Rule:
    """One rule as written: when ``subject`` mentions one of ``phrases``, ``field`` = ``value``."""

    subject: str
    phrases: tuple[str, ...]
    field: str | None
    value: str
    negated: bool = False


@dataclass(frozen=True)
class Firing:
    """A rule that applies to the current inputs, bound to an output path and a typed value."""

    path: str
    value: Any
    phrase: str
    subject: str


# -- reading ---------------------------------------------------------------------------------


def parse_rules(instructions: str) -> list[Rule]:
    """Every sentence of ``instructions`` that is a rule, in order."""
    quoted: list[str] = []

    def protect(match: re.Match[str]) -> str:
        raw = match.group(1) if match.group(1) is not None else match.group(2)
        quoted.append(_unescape(raw))
        return f"{_MARK}{len(quoted) - 1}{_MARK}"

    rules: list[Rule] = []
    for sentence in _SPLIT.split(_QUOTED.sub(protect, instructions)):
        sentence = _BULLET.sub("", sentence).strip().rstrip(".!?;").strip()
        rule = _parse_sentence(sentence, quoted) if sentence else None
        if rule is not None:
            rules.append(rule)
    return rules


def _parse_sentence(sentence: str, quoted: list[str]) -> Rule | None:
    if m := _WHEN.fullmatch(sentence):
        for pattern in _CONSEQUENCES:
            if c := pattern.fullmatch(m["rest"].strip()):
                field = c.groupdict().get("field")
                return _rule(m["subject"], m["phrases"], field, c["value"], quoted)
        return None
    if m := _PLURAL.fullmatch(sentence):
        return _rule(m["subject"], m["phrases"], None, m["value"], quoted, bool(m["neg"]))
    if m := _REVERSE.fullmatch(sentence):
        return _rule(m["subject"], m["phrases"], m["field"], m["value"], quoted)
    return None


def _rule(
    subject: str,
    phrases: str,
    field: str | None,
    value: str,
    quoted: list[str],
    negated: bool = False,
) -> Rule | None:
    found = tuple(p for p in (_restore(p, quoted) for p in _phrase_list(phrases)) if p)
    if not found:
        return None
    return Rule(subject.strip(), found, field, _restore(value.strip(), quoted), negated)


def _phrase_list(text: str) -> list[str]:
    marks = re.findall(rf"{_MARK}\d+{_MARK}", text)
    if marks:
        return marks
    return [_ARTICLE.sub("", p.strip()) for p in re.split(r",\s*(?:or\s+)?|\s+or\s+", text)]


def _restore(text: str, quoted: list[str]) -> str:
    match = re.fullmatch(rf"{_MARK}(\d+){_MARK}", text.strip())
    if match:
        return quoted[int(match.group(1))]
    text = re.sub(rf"{_MARK}(\d+){_MARK}", lambda m: quoted[int(m.group(1))], text)
    return _ARTICLE.sub("", text.strip().strip("`'")).strip()


def _unescape(raw: str) -> str:
    try:
        text: str = json.loads(f'"{raw}"')
    except ValueError:
        return raw
    return text


# -- applying --------------------------------------------------------------------------------


def fire(
    rules: Sequence[Rule],
    inputs: Sequence[FieldInfo],
    outputs: Sequence[FieldInfo],
    values: Mapping[str, str],
) -> dict[str, Firing]:
    """The rules that apply to ``values``, by output path; the first stated wins a path."""
    paths: dict[str, Schema] = {}
    for f in outputs:
        paths.update(object_paths(f.name, f.schema))
    fired: dict[str, Firing] = {}
    for rule in rules:
        target = _subject_field(rule.subject, [f.name for f in inputs])
        text = values.get(target, "") if target else "\n".join(values.values())
        phrase = next((p for p in rule.phrases if mention_at(text, p) >= 0), None)
        if phrase is None:
            continue
        bound = _bind(rule, paths)
        if bound is not None and bound[0] not in fired:
            fired[bound[0]] = Firing(bound[0], bound[1], phrase, target or "input")
    return fired


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", re.sub(r"'s\b", "", text.lower()))


def _subject_field(subject: str, names: Sequence[str]) -> str | None:
    key = _key(subject)
    for name in names:
        if key in (_key(name), _key(name) + "s", _key(name) + "es"):
            return name
    return None


def _bind(rule: Rule, paths: Mapping[str, Schema]) -> tuple[str, Any] | None:
    path = _path_named(rule.field, paths) if rule.field else None
    if path is not None:
        ok, value = coerce(rule.value, paths[path])
        if ok and rule.negated and isinstance(value, bool):
            value = not value
        return (path, value) if ok and (not rule.negated or isinstance(value, bool)) else None
    return _bind_by_value(rule, paths)


def _path_named(field: str, paths: Mapping[str, Schema]) -> str | None:
    key = _key(field)
    exact = [p for p in paths if _key(p) == key]
    if exact:
        return exact[0]
    leaves = [p for p in paths if _key(p.rsplit(".", 1)[-1]) == key]
    return leaves[0] if len(leaves) == 1 else None


def _bind_by_value(rule: Rule, paths: Mapping[str, Schema]) -> tuple[str, Any] | None:
    flag = _path_named(rule.value, paths)
    if flag is not None and type_of(paths[flag]) == "boolean":
        return flag, not rule.negated
    if rule.negated:
        return None
    for path, schema in paths.items():
        if options(schema) is not None:
            ok, value = coerce(rule.value, schema)
            if ok:
                return path, value
    return None


# -- writing ---------------------------------------------------------------------------------


def write_rule(form: str, subject: str, phrase: str, path: str, value: Any) -> str:
    """A rule in the grammar above; ``form`` is ``when``, ``if`` or ``plural`` (booleans)."""
    quoted = json.dumps(phrase, ensure_ascii=False)
    if form == "plural" and isinstance(value, bool) and "." not in path:
        return f"{subject.capitalize()}s that mention {quoted} are {'' if value else 'not '}{path}."
    written = write_value(value)
    if form == "if":
        return f"If the {subject} mentions {quoted}, set {path} to {written}."
    return f"When the {subject} mentions {quoted}, {path} is {written}."


def write_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z][\w-]*", value):
        return value
    return json.dumps(value, ensure_ascii=False)
