"""finetune's ``export_path``: a copy of the training data, outside the output folder.

castlm overwrites an exported file only when it wrote that file itself and nobody changed it
since: the project's ``.castlm/exports.json`` records the SHA-256 of every file it exported.
Any other existing file at an export path is refused, naming the file, so an export never
replaces the user's own data. Without a work folder (the Python API's ``optimize``) there
is no record, and only a missing file or one with the same content is written.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

from ..errors import CompileError

EXPORTS_FILE = "exports.json"


def export_path(text: str) -> Path:
    """Where ``export_path`` points (relative to the working directory, like a flag)."""
    return Path(text).expanduser().absolute()


def targets(text: str, files: Mapping[str, bytes]) -> dict[Path, bytes]:
    """``{file: content}`` for ``export_path`` ``text``: one .jsonl file, or a folder."""
    target = export_path(text)
    if target.suffix != ".jsonl":
        return {target / Path(path).name: content for path, content in files.items()}
    if len(files) > 1:
        raise CompileError(
            "finetune: export_path is one .jsonl file but there is one file per predictor "
            "(multitask=false); give a folder"
        )
    return {target: next(iter(files.values()))}


def refusal(path: Path, work_dir: Path | None, content: bytes | None = None) -> str | None:
    """Why the export may not write ``path``, or None when it may."""
    if not path.exists() and not path.is_symlink():
        return None
    if path.is_symlink() or not path.is_file():
        return f"finetune: export_path {path} exists and is not a regular file"
    current = _sha256(path)
    if current == _recorded(work_dir).get(str(path)) or (
        content is not None and current == hashlib.sha256(content).hexdigest()
    ):
        return None
    return (
        f"finetune: refusing to overwrite {path}: castlm did not export it there (or it "
        f"changed since); choose another export_path, or move that file away"
    )


def write(targets: Mapping[Path, bytes], work_dir: Path | None) -> None:
    """Write every export file, after checking all of them; record what was written."""
    for path, content in targets.items():
        problem = refusal(path, work_dir, content)
        if problem is not None:
            raise CompileError(problem)
    for path, content in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    if work_dir is not None:
        recorded = _recorded(work_dir)
        recorded.update({str(p): hashlib.sha256(c).hexdigest() for p, c in targets.items()})
        work_dir.mkdir(parents=True, exist_ok=True)
        temporary = work_dir / f".{EXPORTS_FILE}.{os.getpid()}"
        temporary.write_text(json.dumps(recorded, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(temporary, work_dir / EXPORTS_FILE)


def _recorded(work_dir: Path | None) -> dict[str, str]:
    if work_dir is None:
        return {}
    try:
        data = json.loads((work_dir / EXPORTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return (
        {str(k): v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}
    )


def _sha256(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return None
