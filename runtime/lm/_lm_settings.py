"""LM settings: sampling, limits and structured output, checked once wherever they come from.

The same keys are accepted by every LM constructor, by ``make_lm``, by an emitted package's
``load(**settings)``, by ``CASTLM_<KEY>`` environment variables and by the compiler's
``[lm_settings]`` tables, so a setting means one thing everywhere.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from ..base._errors import ConfigurationError
from ..base._narrow import is_list_or_tuple, is_mapping
from ..base._structured import DIALECTS, check_dialect

ENV_PREFIX = "CASTLM_"
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high")

#: Every setting and what it means (also the order in which messages list them).
SETTINGS: dict[str, str] = {
    "temperature": "sampling temperature, 0 to 2",
    "max_tokens": "the most tokens a reply may have (a whole number >= 1)",
    "top_p": "nucleus sampling, greater than 0 and at most 1",
    "seed": "the sampling seed (a whole number)",
    "stop": "a string or a list of strings that end the reply",
    "reasoning_effort": f"one of {', '.join(REASONING_EFFORTS)} (reasoning models)",
    "timeout": "seconds one attempt may take, connect to last byte (> 0)",
    "max_connections": "the most requests one LM has in flight at once (a whole number >= 1)",
    "extra_body": "a table of raw keys merged into every request body",
    "structured_output": f"one of {', '.join(DIALECTS)}",
}


def check_settings(raw: Mapping[str, Any], *, where: str = "LM settings") -> dict[str, Any]:
    """``raw`` validated and normalized; a bad key or value raises ConfigurationError.

    ``None`` values are dropped (they mean "not set").
    """
    checked: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in SETTINGS:
            raise ConfigurationError(_unknown(key, where))
        if value is None:
            continue
        try:
            checked[key] = _check(key, value)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"{where}: {key} must be {SETTINGS[key]}: {exc}") from None
    return checked


def settings_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Settings from ``CASTLM_TEMPERATURE``, ``CASTLM_MAX_TOKENS`` and the like.

    Values are read as JSON where they parse (``0.2``, ``["\\n"]``, ``{"k": 1}``), else as text.
    """
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    for key in SETTINGS:
        text = environ.get(ENV_PREFIX + key.upper(), "").strip()
        if text:
            raw[key] = _from_text(text)
    return check_settings(raw, where="environment (CASTLM_<SETTING>)")


def parse_assignment(text: str, *, where: str) -> tuple[str, Any]:
    """``KEY=VALUE`` from a command line, VALUE read as JSON where it parses."""
    key, sep, value = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not key:
        raise ConfigurationError(f"{where}: expected KEY=VALUE, got {text!r}")
    checked = check_settings({key: _from_text(value.strip())}, where=where)
    return key, checked.get(key)


def _from_text(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text


def _check(key: str, value: Any) -> Any:
    if key == "temperature":
        return _number(value, low=0.0, high=2.0)
    if key == "top_p":
        number = _number(value, low=0.0, high=1.0)
        if number == 0:
            raise ValueError("0 samples nothing")
        return number
    if key == "timeout":
        number = _number(value, low=0.0, high=None)
        if number == 0:
            raise ValueError("0 would fail every call")
        return number
    if key in ("max_tokens", "max_connections"):
        number = _whole(value)
        if number < 1:
            raise ValueError(f"got {value!r}")
        return number
    if key == "seed":
        return _whole(value)
    if key == "stop":
        return _stop(value)
    if key == "reasoning_effort":
        if value not in REASONING_EFFORTS:
            raise ValueError(f"got {value!r}")
        return value
    if key == "extra_body":
        if not is_mapping(value):
            raise ValueError(f"got {value!r}")
        return dict(value)
    return check_dialect(value)


def _number(value: Any, *, low: float, high: float | None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"got {value!r}")
    if value < low or (high is not None and value > high):
        raise ValueError(f"got {value!r}")
    return float(value)


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"got {value!r}")
    return value


def _stop(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not is_list_or_tuple(items) or not all(isinstance(s, str) and s for s in items):
        raise TypeError(f"got {value!r}")
    return tuple(items)


def _unknown(key: str, where: str) -> str:
    import difflib

    close = difflib.get_close_matches(key, list(SETTINGS), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    if key in ("api_key", "key"):
        return f"{where}: API keys are not settings; set CASTLM_API_KEY in the environment"
    return f"{where}: unknown LM setting {key!r}; {hint}known settings: {', '.join(SETTINGS)}"
