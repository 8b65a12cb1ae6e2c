"""Which output folders castlm may replace: only those that hold exactly what it wrote.

Every folder castlm writes gets a marker file, ``.castlm-output.json``, listing each file it
wrote with its SHA-256. A later compile replaces the folder only when every file in it is
listed there with the same content (Python's ``__pycache__`` byte code aside, which is
derived from the listed files). A folder without the marker, with a file castlm did not
write, or with a file changed since, is somebody else's: castlm refuses to touch it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

MARKER = ".castlm-output.json"
_GENERATOR = "castlm"
_SHOWN = 5  # file names quoted in a refusal; the rest are counted


def marker_bytes(files: Mapping[str, bytes]) -> bytes:
    """The marker listing ``files`` (paths relative to the output folder)."""
    listing = {path: hashlib.sha256(data).hexdigest() for path, data in sorted(files.items())}
    data = {"generator": _GENERATOR, "files": listing}
    return (json.dumps(data, sort_keys=True, indent=1, ensure_ascii=True) + "\n").encode("ascii")


def replace_refusal(out_dir: Path) -> str | None:
    """Why ``out_dir`` may not be replaced by a new output, or None when it may.

    It may when it does not exist, is an empty folder, or holds exactly what castlm wrote.
    """
    if os.path.islink(out_dir):
        return f"{out_dir} is a symbolic link; pass the folder it points to as the output"
    if not out_dir.exists():
        return None
    if not out_dir.is_dir():
        return f"{out_dir} is a file, not a folder; pass a folder as the output"
    try:
        if not any(out_dir.iterdir()):
            return None
    except OSError as exc:
        return f"cannot read {out_dir} ({exc.strerror}), so castlm cannot tell what it holds"
    listed = _listed(out_dir)
    if listed is None:
        return (
            f"refusing to replace {out_dir}: it is not empty and castlm did not write it (it has "
            f"no {MARKER}). {_ADVICE}"
        )
    foreign, changed = _differences(out_dir, listed)
    if foreign:
        return f"refusing to replace {out_dir}: castlm did not write {_names(foreign)}. {_ADVICE}"
    if changed:
        return (
            f"refusing to replace {out_dir}: {_names(changed)} changed since castlm wrote "
            f"{'them' if len(changed) > 1 else 'it'}. {_ADVICE}"
        )
    return None


_ADVICE = (
    "castlm only replaces a folder that holds exactly the files it wrote there: pass another "
    "--out (or `out` in the config), or move your files out of this folder"
)


def _listed(out_dir: Path) -> dict[str, str] | None:
    """The marker's ``{path: sha256}``, or None when there is no valid marker."""
    try:
        data = json.loads((out_dir / MARKER).read_bytes())
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("generator") != _GENERATOR:
        return None
    files = data.get("files")
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        return None
    return {str(k): v for k, v in files.items()}


def _differences(out_dir: Path, listed: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """Paths castlm did not write, and listed files whose content changed."""
    folders = {str(parent) for path in listed for parent in PurePosixPath(path).parents}
    foreign: list[str] = []
    changed: list[str] = []
    unreadable: list[OSError] = []
    for root, dirs, files in os.walk(out_dir, onerror=unreadable.append):  # no symlinks
        here = Path(root).relative_to(out_dir)
        kept = []
        for name in dirs:
            relative = (here / name).as_posix()
            ours = relative in folders or name == "__pycache__"
            if ours and not os.path.islink(Path(root, name)):
                kept.append(name)
            else:
                foreign.append(relative + "/")
        dirs[:] = kept
        for name in files:
            relative = (here / name).as_posix()
            if relative == MARKER or (here.name == "__pycache__" and name.endswith(".pyc")):
                continue
            if relative not in listed:
                foreign.append(relative)
            elif _sha256(Path(root, name)) != listed[relative]:
                changed.append(relative)
    # A folder it cannot list may hold anything: count it as not castlm's.
    foreign += [f"{Path(str(e.filename)).relative_to(out_dir).as_posix()}/" for e in unreadable]
    return sorted(foreign), sorted(changed)


def _sha256(path: Path) -> str | None:
    if path.is_symlink():
        return None
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return None


def _names(paths: list[str]) -> str:
    shown = ", ".join(paths[:_SHOWN])
    more = len(paths) - _SHOWN
    return shown + (f" and {more} more" if more > 0 else "")
