"""Literals for values that came from data: Python source, TOML strings, Markdown.

Instructions and demos come from training data and from LM replies, so they may hold anything:
quotes, backslashes, template syntax, triple quotes, NUL, lone surrogates, CR, U+2028. Such a
value reaches a generated file only through these functions. Python literals read back as
exactly the value (they are built on ``repr``, which is valid for every ``str`` and escapes
every non-printable character); Markdown and TOML text displays the value without being able
to change the structure of the document around it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from castlm.compiler.emit.errors import EmitError

_INDENT = "    "
# Images in demos are frozen as base64 ``data:`` URLs (castlm.Image's JSON form).
_DATA_URL = re.compile(r"data:[\w.+-]+/[\w.+-]+;base64,[A-Za-z0-9+/=]+\Z")
_DATA_URL_WIDTH = 76
_LINE = re.compile(r"[^\n]*\n|[^\n]+")
_BACKTICKS = re.compile(r"`+")
_LINE_BREAKS = re.compile(r"\r\n|[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]")
_UNDISPLAYABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_MD_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f"}


# -- Python ------------------------------------------------------------------------------
def py_str(text: str) -> str:
    """A one-line Python literal for ``text``; double-quoted unless that needs escapes.

    ``repr`` picks single quotes unless the text holds ``'`` and no ``"``; when it picked
    single quotes and the text has no ``"``, the text has no ``'`` either, so swapping the
    delimiters needs no new escapes (and matches ruff's quote style).
    """
    literal = repr(text)
    if literal.startswith("'") and '"' not in text:
        literal = f'"{literal[1:-1]}"'
    return literal


def py_str_block(text: str, indent: int) -> str:
    """``text`` as one literal per line, in parentheses, when it spans several lines.

    Adjacent literals concatenate, so the value is unchanged; each line keeps its ``\\n``.
    ``indent`` is the column of the line the expression starts on.
    """
    pieces = _LINE.findall(text)
    if _DATA_URL.match(text):  # an image demo: its base64 in lines of a readable width
        pieces = [text[i : i + _DATA_URL_WIDTH] for i in range(0, len(text), _DATA_URL_WIDTH)]
    if len(pieces) <= 1:
        return py_str(text)
    inner = _INDENT * (indent + 1)
    body = "\n".join(inner + py_str(piece) for piece in pieces)
    return f"(\n{body}\n{_INDENT * indent})"


def py_value(value: object, indent: int, where: str = "value") -> str:
    """A Python literal for JSON-like data, one item per line (ruff's exploded layout).

    Accepts str, int, float, bool, None and lists, tuples and dicts of them; ``where`` names
    the value in the error raised for anything else.
    """
    if value is None or isinstance(value, bool | int):
        return repr(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else f"float({py_str(repr(value))})"
    if isinstance(value, str):
        return py_str_block(value, indent)
    if isinstance(value, list | tuple):
        return _py_sequence(value, indent, where)
    if isinstance(value, Mapping):
        return _py_mapping(value, indent, where)
    raise EmitError(
        f"{where} is a {type(value).__name__}, which cannot be frozen into the package; "
        f"demo values must be JSON data (str, int, float, bool, None, lists and dicts)"
    )


def _py_sequence(value: list[object] | tuple[object, ...], indent: int, where: str) -> str:
    opening, closing = ("[", "]") if isinstance(value, list) else ("(", ")")
    if not value:
        return opening + closing
    inner = _INDENT * (indent + 1)
    items = "".join(
        f"{inner}{py_value(item, indent + 1, f'{where}[{i}]')},\n" for i, item in enumerate(value)
    )
    return f"{opening}\n{items}{_INDENT * indent}{closing}"


def _py_mapping(value: Mapping[object, object], indent: int, where: str) -> str:
    if not value:
        return "{}"
    inner = _INDENT * (indent + 1)
    lines = []
    for key, item in value.items():
        if not (key is None or isinstance(key, str | int | float | bool)):
            raise EmitError(f"{where} has a key of type {type(key).__name__}; keys must be str")
        key_text = py_value(key, 0, where)
        if isinstance(key, str):
            key_text = py_str(key)  # keys stay on one line whatever they hold
        lines.append(f"{inner}{key_text}: {py_value(item, indent + 1, f'{where}[{key!r}]')},\n")
    return "{\n" + "".join(lines) + _INDENT * indent + "}"


# -- TOML --------------------------------------------------------------------------------
def toml_str(text: str) -> str:
    """A TOML basic string; control characters become ``\\uXXXX`` escapes."""
    out = ['"']
    for char in text:
        code = ord(char)
        if 0xD800 <= code <= 0xDFFF:
            raise EmitError(f"{text!r} holds a lone surrogate, which TOML cannot represent")
        if char in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[char])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


# -- Markdown ----------------------------------------------------------------------------
def displayable(text: str) -> str:
    """``text`` fit for a UTF-8 text file: control characters (but newline and tab), line and
    paragraph separators and lone surrogates are shown as Python-style escapes."""
    return _UNDISPLAYABLE.sub(_escape_char, text)


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def md_fence(text: str, info: str = "") -> str:
    """A fenced block showing ``text`` verbatim.

    The fence is longer than any backtick run in the text, so no line of it can close the
    block early; inside a fenced block Markdown interprets nothing else.
    """
    if "`" in info or "\n" in info:
        raise EmitError(f"invalid Markdown info string {info!r}")
    text = displayable(text)
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def md_code(text: str) -> str:
    """An inline code span showing ``text`` (line breaks shown as spaces)."""
    text = _LINE_BREAKS.sub(" ", displayable(text))
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    ticks = "`" * (longest + 1)
    # A span that starts or ends with a backtick needs a space so the delimiters stay apart;
    # CommonMark strips one space from each side of a span padded on both sides.
    padded = f" {text} " if text.startswith("`") or text.endswith("`") or not text.strip() else text
    return f"{ticks}{padded}{ticks}"


def md_text(text: str) -> str:
    """Inline prose: every ASCII punctuation character backslash-escaped, one line."""
    return _MD_PUNCTUATION.sub(r"\\\1", _LINE_BREAKS.sub(" ", displayable(text)))
