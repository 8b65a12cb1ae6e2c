"""write_package: the old output or the new one, never a mix, and never a stray directory."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from castlm import PredictorParams
from castlm.compiler.emit import EmitError, render_package, write_package
from castlm.compiler.emit import write as write_module
from castlm.compiler.emit.owned import MARKER
from test_emit_support import request_for, write_sources


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _written(root: Path) -> dict[str, bytes]:
    """What castlm wrote to ``root``, less its marker (checked once, below)."""
    return {k: v for k, v in _snapshot(root).items() if k != MARKER}


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
    assert _written(out) == files
    marker = json.loads((out / MARKER).read_bytes())
    assert marker["generator"] == "castlm"
    assert marker["files"] == {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}
    assert _siblings(out) == []


def test_replaces_a_previous_output_completely(old: Path, files: dict[str, bytes]) -> None:
    write_package(files, old)
    assert _written(old) == files  # the stale file is gone
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
    with pytest.raises(EmitError, match="castlm did not write it"):
        write_package(files, project)
    assert (project / "important.py").read_text(encoding="utf-8") == "keep me\n"
    assert _siblings(project) == []


def test_an_empty_directory_may_be_replaced(tmp_path: Path, files: dict[str, bytes]) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    write_package(files, out)
    assert _written(out) == files


@pytest.mark.parametrize("path", ["../escape.py", "/abs.py", "a/../../b.py", "./x.py", ""])
def test_paths_outside_the_output_are_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(EmitError, match="outside the output"):
        write_package({path: b""}, tmp_path / "out")
    assert _siblings(tmp_path / "out") == []


def _refused(out: Path, files: dict[str, bytes], match: str) -> None:
    before = _snapshot(out)
    with pytest.raises(EmitError, match=match):
        write_package(files, out)
    assert _snapshot(out) == before
    assert _siblings(out) == []


def test_refuses_a_project_that_holds_a_copy_of_a_package(
    tmp_path: Path, old: Path, files: dict[str, bytes]
) -> None:
    """The data-loss bug: a folder with a castlm manifest next to the user's own code (and
    .git) was treated as replaceable output and deleted."""
    project = tmp_path / "myservice"
    (project / ".git").mkdir(parents=True)
    (project / ".git" / "HEAD").write_text("ref: refs/heads/main\n", encoding="utf-8")
    (project / "app.py").write_text("print('mine')\n", encoding="utf-8")
    for name, data in _snapshot(old).items():  # a copied package, marker included
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_bytes(data)
    _refused(project, files, r"castlm did not write \.git/, app\.py")


def test_refuses_its_own_output_once_a_user_added_a_file(
    old: Path, files: dict[str, bytes]
) -> None:
    (old / "support_pkg" / "notes.txt").write_text("mine\n", encoding="utf-8")
    _refused(old, files, r"castlm did not write support_pkg/notes\.txt")
    (old / "support_pkg" / "notes.txt").unlink()
    (old / "extra").mkdir()
    _refused(old, files, r"castlm did not write extra/")


def test_refuses_its_own_output_once_a_user_edited_a_file(
    old: Path, files: dict[str, bytes]
) -> None:
    (old / "support_pkg" / "stale.py").write_text("# edited by hand\n", encoding="utf-8")
    _refused(old, files, r"support_pkg/stale\.py changed since castlm wrote it")


def test_refuses_a_folder_without_the_marker(tmp_path: Path, files: dict[str, bytes]) -> None:
    out = tmp_path / "out"
    write_package(files, out)
    (out / MARKER).unlink()
    _refused(out, files, "castlm did not write it")


def test_replaces_its_own_output_with_byte_code_caches(old: Path, files: dict[str, bytes]) -> None:
    cache = old / "support_pkg" / "__pycache__"
    cache.mkdir()
    (cache / "__init__.cpython-312.pyc").write_bytes(b"\0")
    write_package(files, old)
    assert _written(old) == files


def test_refuses_a_file_and_a_symbolic_link(tmp_path: Path, files: dict[str, bytes]) -> None:
    target = tmp_path / "afile"
    target.write_text("mine\n", encoding="utf-8")
    with pytest.raises(EmitError, match="is a file, not a folder"):
        write_package(files, target)
    assert target.read_text(encoding="utf-8") == "mine\n"
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(EmitError, match="symbolic link"):
        write_package(files, link)
    assert link.is_symlink() and not (tmp_path / "elsewhere").exists()


def test_a_subfolder_it_cannot_list_counts_as_foreign(
    old: Path, files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    from castlm.compiler.emit import owned

    real_walk = os.walk

    def walk(top: Path, onerror: Any = None) -> Iterator[tuple[str, list[str], list[str]]]:
        for entry in real_walk(top, onerror=onerror):
            if Path(entry[0]) == Path(top) / "support_pkg":
                onerror(PermissionError(13, "Permission denied", entry[0]))
                entry[1].clear()
                entry[2].clear()
            yield entry

    monkeypatch.setattr(owned.os, "walk", walk)
    _refused(old, files, r"castlm did not write support_pkg/")
