"""Program streams are typed: a ``match`` over the events is exhaustive and narrows
``Finished.result`` to the program's own result type, for mypy --strict and pyright strict."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_typing import PYRIGHT, marked_lines, mypy_error_lines, pyright_errors

PROBE = Path(__file__).parent / "typing_probe" / "stream_program.py"


def test_stream_probe_mistakes_are_mypy_errors_on_exactly_the_marked_lines(
    tmp_path: Path,
) -> None:
    expected = marked_lines(PROBE)
    assert len(expected) == 3
    assert mypy_error_lines(PROBE, tmp_path / ".mypy") == expected


@pytest.mark.skipif(PYRIGHT is None, reason="pyright is not installed (pip install -e '.[dev]')")
def test_stream_probe_mistakes_are_pyright_strict_errors_on_exactly_the_marked_lines(
    tmp_path: Path,
) -> None:
    target = tmp_path / "stream_program.py"
    shutil.copy(PROBE, target)
    errors = pyright_errors(target, tmp_path)
    lines = {int(e["range"]["start"]["line"]) + 1 for e in errors}  # type: ignore[index]
    assert lines == marked_lines(PROBE), errors
