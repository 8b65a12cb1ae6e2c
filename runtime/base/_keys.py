"""Checking API keys where they are resolved, and building the headers that carry them.

A key is refused before any header is built when it holds a character no real key has
(whitespace, control characters, non-ASCII): HTTP libraries reject such a header with a
message that quotes the whole value, and a key read from a file often ends in a newline.
Refusals name where the key came from and the offending character's position, never the key.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Mapping
from urllib.parse import unquote

from ._errors import ConfigurationError

_PRINTABLE = range(0x21, 0x7F)  # visible ASCII: what a key, a token or a password is made of
_NAMED = {" ": "a space", "\t": "a tab", "\n": "a newline", "\r": "a carriage return"}


def check_key(value: str, source: str) -> str:
    """``value`` if it can be sent as a credential; else a ConfigurationError naming
    ``source`` (e.g. ``"in $CASTLM_API_KEY"``) and the bad character, never the key."""
    if _visible(value):
        return value  # every character visible ASCII: checked in C, on every request
    for index, char in enumerate(value):
        if ord(char) not in _PRINTABLE:
            raise ConfigurationError(
                f"the API key {source} contains {_describe(char)} at character {index + 1} "
                f"of {len(value)}; an API key never does, so castlm refuses to send it. "
                "Remove it (a key read from a file usually ends in a newline: use "
                ".strip()), and check that the value is the key itself."
            )
    return value


def env_key(variables: Iterable[str]) -> tuple[str, str] | None:
    """The first of ``variables`` set to a non-blank value, checked: (key, "$NAME")."""
    for var in variables:
        value = os.environ.get(var, "")
        if value.strip():
            return check_key(value, f"in ${var}"), f"${var}"
    return None


def env_key_value(variables: Iterable[str]) -> str | None:
    """``env_key``'s key alone: what a request sends, without the name of its source."""
    for var in variables:
        value = os.environ.get(var, "")
        if value.strip():
            return value if _visible(value) else check_key(value, f"in ${var}")
    return None


def _visible(value: str) -> bool:
    return value.isascii() and value.isprintable() and " " not in value


def basic_credentials(userinfo: str) -> str:
    """``Basic ...`` for the ``user:password`` of a URL (percent-escapes decoded)."""
    user, _, password = userinfo.partition(":")
    token = f"{unquote(user)}:{unquote(password)}".encode()
    return "Basic " + base64.b64encode(token).decode("ascii")


def auth_headers(key: str | None, userinfo: str | None, *, custom: bool) -> dict[str, str]:
    """The credential headers of one request.

    ``key`` goes as ``Authorization: Bearer``. ``user:password`` from the base URL goes as
    ``Authorization: Basic`` when nothing else claims that header, and as
    ``Proxy-Authorization: Basic`` (the header meant for a gateway in front of the API) when
    a key or a custom ``Authorization`` header (``custom``) does: both are always sent.
    """
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    if userinfo is not None:
        claimed = key is not None or custom
        headers["Proxy-Authorization" if claimed else "Authorization"] = basic_credentials(userinfo)
    return headers


def check_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` as a dict, refused (without quoting any value, which may be a credential)
    when a value holds a control or non-ASCII character that HTTP libraries reject."""
    for name, value in headers.items():
        for index, char in enumerate(value):
            if not (char == " " or ord(char) in _PRINTABLE):
                raise ConfigurationError(
                    f"the value of header {name!r} passed in headers= contains "
                    f"{_describe(char)} at character {index + 1} of {len(value)}; HTTP "
                    "forbids it there. Remove it (values read from files usually end in a "
                    "newline: use .strip())."
                )
    return dict(headers)


def safe_cause(exc: BaseException, secrets: Iterable[str | None]) -> BaseException | None:
    """``exc`` as the ``__cause__`` of a castlm error, or None when ``exc`` or anything it
    was raised from quotes one of ``secrets`` (a logged traceback prints the whole chain)."""
    shown = [s for s in secrets if s]
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:  # chains can, rarely, form a cycle
        seen.add(id(link))
        text = f"{link!s} {link!r} {link.args!r}"
        if any(secret in text for secret in shown):
            return None
        link = link.__cause__ or link.__context__
    return exc


def _describe(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    if ord(char) < 0x20 or ord(char) == 0x7F:
        return f"a control character ({char!r})"
    if char.isspace():
        return f"a whitespace character (U+{ord(char):04X})"
    return "a non-ASCII character"
