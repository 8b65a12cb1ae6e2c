"""Golden tests: every tests/golden/diagnostics/<case>.py against <case>.expected.

Each case is analyzed with its file name as path; ``# castlm-target: Name`` lines
in a case also run check_target for Name. Set CASTLM_UPDATE_GOLDEN=1 to rewrite
the expectations after an intended change, then review the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from castlm.compiler.analyze import analyze_source, check_target
from castlm.compiler.diagnostics import CODES, Diagnostic, format_diagnostics

GOLDEN = Path(__file__).parent / "golden" / "diagnostics"
CASES = sorted(GOLDEN.glob("*.py"))
TARGET = re.compile(r"^# castlm-target: (\w+)$", re.MULTILINE)


def diagnose(case: Path) -> list[Diagnostic]:
    source = case.read_text(encoding="utf-8")
    program = analyze_source(source, case.name)
    found = list(program.diagnostics)
    for target in TARGET.findall(source):
        found += check_target(program, target)
    return found


def render(diagnostics: list[Diagnostic]) -> str:
    text = format_diagnostics(diagnostics)
    return f"{text}\n" if text else ""


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_golden_diagnostics(case: Path) -> None:
    actual = render(diagnose(case))
    expected_file = case.with_suffix(".expected")
    if os.environ.get("CASTLM_UPDATE_GOLDEN") == "1":
        expected_file.write_text(actual, encoding="utf-8")
    assert actual == expected_file.read_text(encoding="utf-8")


def test_every_code_has_a_golden_case() -> None:
    seen = {d.code for case in CASES for d in diagnose(case)}
    assert seen == set(CODES)


def test_clean_case_has_no_diagnostics() -> None:
    assert diagnose(GOLDEN / "clean.py") == []
