"""write_package: the old output or the new one, never a mix, and never a stray directory."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from castlm import PredictorParams
from castlm.compiler.emit import EmitError, render_package, write_package
from castlm.compiler.emit import write as write_module
from test_emit_support import request_for, write_sources


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _siblings(out: Path) -> list[str]:
    """Temporary directories left next to the output (there should be none)."""
    if not out.parent.exists():
        return []
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


@pytest.fixture
def files(tmp_path: Path) -> dict[str, bytes]:
    return render_package(request_for(write_sources(tmp_path / "src"), "support_pkg"))


@pytest.fixture
def old(tmp_path: Path, files: dict[str, bytes]) -> Path:
    """A previous output, in a directory of its own (so siblings are easy to see)."""
    out = tmp_path / "build" / "support_pkg"
    write_package({**files, "support_pkg/stale.py": b"# from an older compile\n"}, out)
    return out


def test_writes_exactly_the_files(tmp_path: Path, files: dict[str, bytes]) -> None:
    out = tmp_path / "fresh" / "out"
    write_package(files, out)
    assert _snapshot(out) == files
    assert _siblings(out) == []


def test_replaces_a_previous_output_completely(old: Path, files: dict[str, bytes]) -> None:
    write_package(files, old)
    assert _snapshot(old) == files  # the stale file is gone
    assert _siblings(old) == []


def test_a_failure_while_writing_leaves_the_old_output_untouched(
    old: Path, files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _snapshot(old)
    written: list[Path] = []
    original = Path.write_bytes

    def failing_write(self: Path, data: bytes) -> int:
        if len(written) == 3:
            raise OSError("disk full")
        written.append(self)
        return original(self, data)

    monkeypatch.setattr(Path, "write_bytes", failing_write)
    with pytest.raises(OSError, match="disk full"):
        write_package(files, old)
    assert _snapshot(old) == before
    assert _siblings(old) == []
    assert all(not p.is_relative_to(old) for p in written)  # it never wrote in place


def test_a_failure_while_rendering_never_reaches_the_disk(tmp_path: Path, old: Path) -> None:
    before = _snapshot(old)
    bad = {"triage": PredictorParams("x", ({"ticket": object()},))}
    request = request_for(write_sources(tmp_path / "src2"), "support_pkg", params=bad)
    with pytest.raises(EmitError, match="demos"):
        write_package(render_package(request), old)
    assert _snapshot(old) == before


class _Exploding(Mapping[str, bytes]):
    """Files whose iteration fails midway, like a render that dies after some output."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self._files = files

    def __getitem__(self, key: str) -> bytes:
        return self._files[key]

    def __len__(self) -> int:
        return len(self._files)

    def __iter__(self) -> Iterator[str]:
        for i, key in enumerate(self._files):
            if i == 5:
                raise RuntimeError("render died")
            yield key


def test_a_failure_midway_through_the_files_leaves_no_trace(
    old: Path, files: dict[str, bytes]
) -> None:
    before = _snapshot(old)
    with pytest.raises(RuntimeError, match="render died"):
        write_package(_Exploding(files), old)
    assert _snapshot(old) == before
    assert _siblings(old) == []


def test_a_failed_swap_puts_the_old_output_back(
    old: Path, files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _snapshot(old)
    renames: list[tuple[str, str]] = []
    real_rename = os.rename

    def rename(src: str | Path, dst: str | Path) -> None:
        renames.append((str(src), str(dst)))
        if len(renames) == 2:  # old -> aside worked; new -> in place fails
            raise OSError("rename failed")
        real_rename(src, dst)

    monkeypatch.setattr(write_module.os, "rename", rename)
    with pytest.raises(OSError, match="rename failed"):
        write_package(files, old)
    assert _snapshot(old) == before
    assert _siblings(old) == []


def test_refuses_to_replace_a_directory_it_did_not_write(
    tmp_path: Path, files: dict[str, bytes]
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "important.py").write_text("keep me\n", encoding="utf-8")
    with pytest.raises(EmitError, match="refusing to replace"):
        write_package(files, project)
    assert (project / "important.py").read_text(encoding="utf-8") == "keep me\n"
    assert _siblings(project) == []


def test_an_empty_directory_may_be_replaced(tmp_path: Path, files: dict[str, bytes]) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    write_package(files, out)
    assert _snapshot(out) == files


@pytest.mark.parametrize("path", ["../escape.py", "/abs.py", "a/../../b.py", "./x.py", ""])
def test_paths_outside_the_output_are_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(EmitError, match="outside the output"):
        write_package({path: b""}, tmp_path / "out")
    assert _siblings(tmp_path / "out") == []
