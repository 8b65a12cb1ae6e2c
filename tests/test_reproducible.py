"""Reproducible builds: the same sources compile to byte-identical packages, whatever the
cache state and the folder the project is checked out in (docs/reproducible-builds.md)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from castlm.compiler.cli import EXIT_OK, main
from castlm.compiler.compile_report import REPORT_FILES
from castlm.compiler.emit.owned import MARKER
from castlm.compiler.pipeline import BUILD_RECORD
from support.project import write_project

# What one run spent and how long it took: the build's record, not the package.
RECORDS = {*REPORT_FILES, BUILD_RECORD, MARKER}


def _compile(root: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> dict[str, object]:
    code = main(["compile", str(root), "--json", *flags])
    captured = capsys.readouterr()
    assert code == EXIT_OK, captured.err
    data: dict[str, object] = json.loads(captured.out)
    return data


def _package_files(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.relative_to(out).as_posix() not in RECORDS
    }


def test_cold_and_warm_builds_in_two_checkouts_are_byte_identical(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = write_project(tmp_path / "checkout-one" / "project")
    cold = _compile(first, capsys, "--no-verify")
    second = tmp_path / "elsewhere" / "deeper" / "copy"
    shutil.copytree(first, second, ignore=shutil.ignore_patterns("build"))  # keeps .castlm
    warm = _compile(second, capsys, "--no-verify")
    assert cold["lm_calls"] != 0 and warm["lm_calls"] == 0  # the second ran from the cache
    one, two = _package_files(first / "build/reviewer"), _package_files(second / "build/reviewer")
    assert sorted(one) == sorted(two) and "reviewer/manifest.json" in one
    assert [name for name in one if one[name] != two[name]] == []
    record = json.loads((second / "build/reviewer" / BUILD_RECORD).read_text())
    assert record["lm_calls"] == 0 and record["cache_hits"] > 0


def test_a_no_verify_build_is_not_up_to_date_for_a_verifying_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_project(tmp_path / "p", optimizer="labeled", options={"k": 2})
    assert _compile(root, capsys, "--no-verify")["up_to_date"] is False
    manifest = json.loads((root / "build/reviewer/reviewer/manifest.json").read_text())
    assert manifest["verified"] is False
    assert _compile(root, capsys, "--no-verify")["up_to_date"] is True
    verified = _compile(root, capsys)
    assert verified["up_to_date"] is False and verified["verified"] is True
    manifest = json.loads((root / "build/reviewer/reviewer/manifest.json").read_text())
    assert manifest["verified"] is True
    assert _compile(root, capsys)["up_to_date"] is True
    assert _compile(root, capsys, "--no-verify")["up_to_date"] is True  # verified is enough
