"""Diagnostic formatting, ordering and suggestions."""

from __future__ import annotations

from pathlib import Path

from castlm.compiler.diagnostics import (
    CODES,
    Diagnostic,
    did_you_mean,
    format_diagnostics,
    sort_diagnostics,
)

DOCS = Path(__file__).parent.parent / "docs" / "diagnostics.md"


def test_format_without_hint() -> None:
    d = Diagnostic("app.py", 3, 5, "CL101", "signature 'A' has no input field")
    assert d.format() == "app.py:3:5: CL101 error: signature 'A' has no input field"


def test_format_with_hint_and_warning() -> None:
    d = Diagnostic("a.py", 1, 2, "CL107", "cannot check", "it is not defined", "warning")
    assert d.format() == "a.py:1:2: CL107 warning: cannot check (it is not defined)"
    assert not d.is_error


def test_format_is_always_one_line() -> None:
    d = Diagnostic("a.py", 1, 1, "CL106", "unsupported type 'dict[\n    str, int]'")
    assert d.format() == "a.py:1:1: CL106 error: unsupported type 'dict[ str, int]'"


def test_sort_orders_by_position_and_drops_duplicates() -> None:
    late = Diagnostic("a.py", 9, 1, "CL201", "x")
    early = Diagnostic("a.py", 2, 7, "CL202", "y")
    assert sort_diagnostics([late, early, late]) == [early, late]
    assert format_diagnostics([late, early]).splitlines()[0].startswith("a.py:2:7:")
    assert format_diagnostics([]) == ""


def test_did_you_mean() -> None:
    assert did_you_mean("tickt", ["ticket", "context"]) == "did you mean 'ticket'?"
    assert did_you_mean("zzz", ["ticket"]) is None
    assert did_you_mean("x", []) is None


def test_every_code_is_documented() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    for code in CODES:
        assert f"## {code}" in docs, code
