"""Writes a rendered package so that readers see the old output or the new one, never a mix.

The files go to a temporary sibling directory first; only once every file is written is the
old output renamed away, the new one renamed into place and the old one deleted. A failure
while writing removes the temporary directory and leaves the old output untouched. Siblings
live on the same filesystem, so each rename is atomic.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Mapping
from pathlib import Path

from castlm.compiler.emit.errors import EmitError, OutputRefused
from castlm.compiler.emit.owned import MARKER, marker_bytes, replace_refusal


def write_package(files: Mapping[str, bytes], out_dir: Path) -> None:
    """Replace ``out_dir`` with exactly ``files`` (paths relative to it, ``/``-separated)
    and the marker that lists them (see owned.py).

    An existing ``out_dir`` is only replaced when it is empty or holds exactly what castlm
    wrote there, so a mistyped ``--out`` cannot delete a project. The compile checks this
    before its first LM call (preflight.py); the check here guards every other caller.
    """
    out_dir = Path(out_dir).absolute()
    refusal = replace_refusal(out_dir)
    if refusal is not None:  # the compile checked before its first LM call: changed since
        raise OutputRefused(refusal)
    if MARKER in files:
        raise EmitError(f"internal error: {MARKER} is castlm's own marker, not an output file")
    files = {**files, MARKER: marker_bytes(files)}
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = _sibling(out_dir, "new")
    staging.mkdir()  # fails rather than reuse a directory; mode follows the umask
    try:
        _write_tree(files, staging)
        _swap_in(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _write_tree(files: Mapping[str, bytes], root: Path) -> None:
    for relative, data in files.items():
        path = root.joinpath(*_safe_parts(relative))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _safe_parts(relative: str) -> tuple[str, ...]:
    parts = tuple(relative.split("/"))
    if any(part in ("", ".", "..") for part in parts):
        raise EmitError(f"internal error: refusing to write outside the output: {relative!r}")
    return parts


def _swap_in(staging: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        os.rename(staging, out_dir)
        return
    retired = _sibling(out_dir, "old")
    os.rename(out_dir, retired)
    try:
        os.rename(staging, out_dir)
    except BaseException:
        os.rename(retired, out_dir)
        raise
    shutil.rmtree(retired, ignore_errors=True)


def _sibling(out_dir: Path, role: str) -> Path:
    """A fresh hidden name next to ``out_dir`` (same filesystem, so renames are atomic)."""
    return out_dir.with_name(f".{out_dir.name}.{role}-{secrets.token_hex(6)}")
