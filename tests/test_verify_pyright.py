"""verify runs pyright strict on the whole package (vendored runtime included) when installed.

pyright takes tens of seconds per package, so one package is checked once here, with a
mistake only pyright reports; the suite otherwise turns it off (conftest.py). CI (.ci/run)
verifies every example's package with it.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from castlm.compiler.verify import verify_package
from test_emit_support import DEV_INPUTS, emit, request_for, write_sources

PACKAGE = "support_pkg"
PYRIGHT = shutil.which("pyright", path=str(Path(sys.executable).parent))

pytestmark = pytest.mark.skipif(PYRIGHT is None, reason="pyright is not installed (.[dev])")


def test_pyright_strict_reports_what_only_it_sees_in_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one error is the planted one: the rest of the package, _runtime/ included, is clean."""
    monkeypatch.setenv("CASTLM_VERIFY_PYRIGHT", "1")
    out = emit(request_for(write_sources(tmp_path / "src"), PACKAGE), tmp_path / "out")
    program = out / PACKAGE / "program.py"
    source = program.read_text(encoding="utf-8")
    marker = "        text = helpers.clean(ticket)\n"
    assert marker in source
    # Only forward's copy: the emitted aforward repeats the line.
    planted = source.replace(marker, marker + "        unused = 1\n", 1)
    program.write_text(planted, encoding="utf-8")
    arguments = {"dev_inputs": DEV_INPUTS, "expected": None, "lm_name": "standin"}
    report = verify_package(out, PACKAGE, cache_dir=None, **arguments)
    assert report.mypy_errors == ()  # mypy does not mind; pyright strict does
    assert report.pyright_errors is not None and len(report.pyright_errors) == 1, report
    assert report.pyright_errors[0].startswith(f"{PACKAGE}/program.py:")
    assert "reportUnusedVariable" in report.pyright_errors[0]
    assert not report.ok


def test_pyright_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASTLM_VERIFY_PYRIGHT", "0")
    from castlm.compiler.verify_pyright import pyright_executable

    assert pyright_executable() is None
    monkeypatch.setenv("CASTLM_VERIFY_PYRIGHT", "1")
    assert pyright_executable() is not None
