"""Diagnostics reported by the castlm analyzer.

Every diagnostic has a stable code. Codes never change meaning once released;
new problems get new codes. The full table with examples is in
``docs/diagnostics.md``.

====== ======== ==========================================================
Code   Severity Meaning
====== ======== ==========================================================
CL001  error    syntax error: the file does not parse
CL101  error    signature has no input field
CL102  error    signature has no output field
CL103  error    annotated class attribute without InputField()/OutputField()
CL104  error    duplicate field name in one signature body
CL105  error    reserved field name (``_x``, pydantic attributes, castlm's own)
CL106  error    unsupported field type (Any, object, Callable, functions, ...)
CL107  warning  field type castlm cannot see (not defined or imported here)
CL108  error    InputField()/OutputField() assigned without an annotation
CL109  error    invalid InputField()/OutputField() argument
CL201  error    unknown input field passed to a predictor call
CL202  error    required input field missing from a predictor call
CL203  error    unknown attribute read from a predictor result
CL204  error    predictor created inside ``forward`` (cannot be optimized)
CL205  error    positional argument in a predictor call
CL206  error    predictor created without a Signature class argument
CL207  error    predictor's signature argument is not a Signature class
CL208  error    predictor call passes a value of the wrong type to an input field
CL209  error    unknown keyword in a call of one of the program's own modules
CL210  error    unknown adapter name passed to a predictor (``adapter="..."``)
CL301  error    requested target class not found
CL302  error    requested target class is not a castlm Module
CL303  error    target module has no ``forward`` method
CL401  warning  ``forward`` cannot be made async: ``acall`` runs it in a thread
====== ======== ==========================================================

Formatted diagnostics are one line each, in the style of other compilers::

    app.py:12:9: CL201 error: unknown input field 'tickt' for 'Triage' (did you mean 'ticket'?)

The optional hint always goes last, in parentheses.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]

CODES: dict[str, str] = {
    "CL001": "syntax error",
    "CL101": "signature has no input field",
    "CL102": "signature has no output field",
    "CL103": "field without InputField()/OutputField() marker",
    "CL104": "duplicate field name",
    "CL105": "reserved field name",
    "CL106": "unsupported field type",
    "CL107": "unknown field type",
    "CL108": "field without annotation",
    "CL109": "invalid field marker argument",
    "CL201": "unknown input field in predictor call",
    "CL202": "missing required input field in predictor call",
    "CL203": "unknown attribute on predictor result",
    "CL204": "predictor created inside forward",
    "CL205": "positional argument in predictor call",
    "CL206": "predictor without signature",
    "CL207": "predictor signature is not a Signature class",
    "CL208": "wrong input type in predictor call",
    "CL209": "unknown keyword in module call",
    "CL210": "unknown adapter name",
    "CL301": "target class not found",
    "CL302": "target class is not a Module",
    "CL303": "target module has no forward method",
    "CL401": "forward cannot be made async",
}

_LINE_BREAK = re.compile(r"\s*\n\s*")


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a source file; ``line`` and ``col`` are 1-based."""

    path: str
    line: int
    col: int
    code: str
    message: str
    hint: str | None = None
    severity: Severity = "error"

    def format(self) -> str:
        """Render as ``path:line:col: CODE severity: message (hint)`` on one line."""
        text = f"{self.path}:{self.line}:{self.col}: {self.code} {self.severity}: {self.message}"
        if self.hint is not None:
            text = f"{text} ({self.hint})"
        # Messages quote user source, which may span lines; keep one line per diagnostic.
        return _LINE_BREAK.sub(" ", text)

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


def sort_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Order by position, dropping exact duplicates (shared code is analyzed once per user)."""
    unique = dict.fromkeys(diagnostics)
    return sorted(unique, key=lambda d: (d.path, d.line, d.col, d.code, d.message))


def format_diagnostics(diagnostics: Iterable[Diagnostic]) -> str:
    """Render diagnostics one per line, in source order (no trailing newline)."""
    return "\n".join(d.format() for d in sort_diagnostics(diagnostics))


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate most similar to ``name``, or None if none is reasonably close."""
    matches = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """Return ``"did you mean 'x'?"`` for the closest candidate, or None if none is close."""
    match = closest(name, candidates)
    return None if match is None else f"did you mean '{match}'?"
