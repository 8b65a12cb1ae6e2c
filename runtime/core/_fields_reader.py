"""Reading output fields out of a reply that is still arriving.

Two readers, one per prompt format: :class:`ChatReader` follows ``[[ ## name ## ]]`` sections,
:class:`JSONReader` follows the members of one JSON object. Each is fed text deltas and says
which field grew by what; a field is *completed* when the reply has moved past it (the next
header, the end of its JSON value, the end of the reply). Text that might still turn out to be
part of a header, or trailing whitespace the final parse would strip, is held back, so every
delta is final.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ._adapter import COMPLETED, Adapter, ChatAdapter, JSONAdapter, header
from ._signature import SignatureSpec

_HEADER = re.compile(r"\[\[ ## (\w+) ## \]\]")
_OPENING = "[[ ## "
_CLOSING = " ## ]]"
_NAME = re.compile(r"\w*")
_PLAIN = re.compile(r'[^"\\]*')
_WHITESPACE = " \t\r\n"
_HIGH_SURROGATES = frozenset({"d8", "d9", "da", "db"})

# Headers of unknown fields (which end a section too) may be longer than the known ones.
_SLACK = 64

Delta = tuple[str, str]
"""An output field's name and the text it gained."""


class FieldReader:
    """What both readers keep: each field's text so far and the fields completed."""

    def __init__(self, spec: SignatureSpec) -> None:
        self.outputs = {f.name for f in spec.outputs}
        self.texts: dict[str, str] = {}
        self.completed: list[str] = []
        self.values: dict[str, Any] = {}  # completed JSON values (JSONReader only)

    def feed(self, text: str) -> list[Delta]:
        raise NotImplementedError

    def finish(self) -> list[Delta]:
        raise NotImplementedError

    def _grow(self, name: str, piece: str, out: list[Delta]) -> None:
        if piece and name in self.outputs:
            self.texts[name] = self.texts.get(name, "") + piece
            out.append((name, piece))

    def _complete(self, name: str | None) -> None:
        if name in self.outputs and name not in self.completed:
            self.completed.append(name)


def reader_for(adapter: Adapter, spec: SignatureSpec) -> FieldReader:
    if isinstance(adapter, JSONAdapter):
        return JSONReader(spec)
    if isinstance(adapter, ChatAdapter):
        return ChatReader(spec)
    return OpaqueReader(spec)


class OpaqueReader(FieldReader):
    """A format of the user's own (castlm.AdapterProtocol): its fields cannot be followed
    while they arrive, so there are no partial outputs, only the parsed result."""

    def feed(self, text: str) -> list[Delta]:
        return []

    def finish(self) -> list[Delta]:
        return []


class ChatReader(FieldReader):
    """Sections under ``[[ ## name ## ]]`` headers, as :class:`castlm.ChatAdapter` writes."""

    def __init__(self, spec: SignatureSpec) -> None:
        super().__init__(spec)
        self._buf = ""
        self._pos = 0  # everything before it has been handed out or dropped
        self._field: str | None = None  # the section being read
        self._held = ""  # trailing whitespace, handed out only if more text follows
        names = [*self.outputs, COMPLETED]
        self._longest = max(len(header(n)) for n in names)

    def feed(self, text: str) -> list[Delta]:
        self._buf += text
        return self._scan(self._safe_end())

    def finish(self) -> list[Delta]:
        out = self._scan(len(self._buf))
        self._complete(self._field)
        self._field = None
        return out

    def _scan(self, end: int) -> list[Delta]:
        out: list[Delta] = []
        for match in _HEADER.finditer(self._buf, self._pos, end):
            self._take(self._buf[self._pos : match.start()], out)
            self._complete(self._field)
            name = match.group(1)
            seen = name in self.texts or name in self.completed
            self._field = name if name in self.outputs and not seen else None
            self._held = ""
            self._pos = match.end()
        self._take(self._buf[self._pos : end], out)
        self._pos = max(self._pos, end)
        return out

    def _take(self, piece: str, out: list[Delta]) -> None:
        if self._field is None or not piece:
            return
        if self._field not in self.texts:
            piece = piece.lstrip(_WHITESPACE)  # the final parse strips the section
        text = self._held + piece
        body = text.rstrip(_WHITESPACE)
        self._held = text[len(body) :]
        if body:
            self._grow(self._field, body, out)

    def _safe_end(self) -> int:
        """Where text may be handed out up to: before a header that may still be arriving."""
        start = max(self._pos, len(self._buf) - self._longest - _SLACK)
        index = self._buf.find("[", start)
        while index != -1:
            if _could_start_header(self._buf[index:]):
                return index
            index = self._buf.find("[", index + 1)
        return len(self._buf)


def _could_start_header(text: str) -> bool:
    if len(text) <= len(_OPENING):
        return _OPENING.startswith(text)
    if not text.startswith(_OPENING):
        return False
    rest = text[len(_OPENING) :]
    name = _NAME.match(rest)
    tail = rest[name.end() if name else 0 :]
    return not tail or (bool(name and name.end()) and _CLOSING.startswith(tail))


class JSONReader(FieldReader):
    """The members of one JSON object, as :class:`castlm.JSONAdapter` asks for.

    String values are handed out as they arrive (decoded); other values once complete, as
    their JSON text.
    """

    def __init__(self, spec: SignatureSpec) -> None:
        super().__init__(spec)
        self._buf = ""
        self._pos = -1  # where the next member starts; -1 until the object's "{" arrives
        self._closed = False
        self._decoder = json.JSONDecoder()

    def feed(self, text: str) -> list[Delta]:
        self._buf += text
        out: list[Delta] = []
        if self._pos < 0:
            brace = self._buf.find("{")
            if brace < 0:
                return out
            self._pos = brace + 1
        while not self._closed and self._member(out):
            pass
        return out

    def finish(self) -> list[Delta]:
        return []

    def _member(self, out: list[Delta]) -> bool:
        """Read one member from ``_pos``; True when it is complete and another may follow."""
        buf = self._buf
        i = _skip(buf, self._pos, _WHITESPACE + ",")
        if i >= len(buf):
            return False
        if buf[i] == "}":
            self._closed = True
            return False
        key, i, closed = _partial_string(buf, i)
        i = _skip(buf, i, _WHITESPACE)
        if not closed or i >= len(buf) or buf[i] != ":":
            return False
        i = _skip(buf, i + 1, _WHITESPACE)
        if i >= len(buf):
            return False
        end = self._value(key, i, out)
        if end is None:
            return False
        self._pos = end
        self._complete(key)
        return True

    def _value(self, key: str, start: int, out: list[Delta]) -> int | None:
        """Hand out what arrived of ``key``'s value; where it ends, None if unfinished."""
        buf = self._buf
        if buf[start] == '"':
            text, end, closed = _partial_string(buf, start)
            self._grow(key, text[len(self.texts.get(key, "")) :], out)
            if closed:
                self.values[key] = text
            return end if closed else None
        try:
            value, end = self._decoder.raw_decode(buf, start)
        except (ValueError, RecursionError):
            return None
        if end >= len(buf):  # "12" may yet become "125"
            return None
        self._grow(key, buf[start:end], out)
        self.values[key] = value
        return end


def _skip(text: str, index: int, chars: str) -> int:
    while index < len(text) and text[index] in chars:
        index += 1
    return index


def _partial_string(buf: str, start: int) -> tuple[str, int, bool]:
    """Decode the JSON string at ``start`` as far as it has arrived: (text, end, closed)."""
    if start >= len(buf) or buf[start] != '"':
        return "", start, False
    parts: list[str] = []
    i = start + 1
    while True:
        plain = _PLAIN.match(buf, i)
        assert plain is not None  # the pattern matches the empty string
        parts.append(plain.group())
        i = plain.end()
        if i >= len(buf):
            return "".join(parts), i, False
        if buf[i] == '"':
            return "".join(parts), i + 1, True
        escape = _escape_at(buf, i)
        if escape is None:
            return "".join(parts), i, False
        parts.append(escape[0])
        i = escape[1]


def _escape_at(buf: str, i: int) -> tuple[str, int] | None:
    """The text of the escape at ``i`` and where it ends; None if it is cut off."""
    length = 2
    if buf.startswith("\\u", i):
        length = 6
        if buf[i + 2 : i + 4].lower() in _HIGH_SURROGATES:
            length = 12  # both halves of a surrogate pair are needed to decode either
    if i + length > len(buf):
        return None
    try:
        return json.loads(f'"{buf[i : i + length]}"'), i + length
    except ValueError:  # a bad escape: the final parse reports it; hand out no guess
        return "", i + length
