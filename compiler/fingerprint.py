"""Whether a compile's inputs changed since its package was emitted.

The fingerprint covers what decides the output: the program source and the project-local
files it imports, the datasets, the settings, the teacher's files, and castlm's version. It
is written into the manifest; a later compile with the same fingerprint does nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import castlm

from .config import ProgramConfig

# Settings that change how a compile runs but not what a complete compile produces. Budgets
# and prices only decide what a compile may spend (a stopped compile is never up to date).
_NOT_OUTPUT = (
    "project_dir", "threads", "verify", "config_file", "cache", "max_lm_calls", "max_cost",
    "prices", "flags", "mlflow",
)  # fmt: skip


def source_hash(paths: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(set(paths)):
        digest.update(str(path.name).encode())
        with path.open("rb") as handle:  # datasets can be large: never whole in memory
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def inputs_fingerprint(
    config: ProgramConfig, sources: Iterable[Path], teacher: Sequence[Path] = ()
) -> str:
    """``teacher``: the teacher's files (a program's sources or a package's own files)."""
    root = config.project_dir
    settings: dict[str, Any] = {
        k: _portable(v, root) for k, v in asdict(config).items() if k not in _NOT_OUTPUT
    }
    datasets = [p for p in (config.train, config.dev, config.val) if p is not None]
    material = {
        "castlm": castlm.__version__,
        "settings": settings,
        "sources": source_hash(sources),
        "data": source_hash(datasets),
    }
    if teacher:
        material["teacher"] = source_hash(teacher)
    blob = json.dumps(material, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _portable(value: Any, root: Path) -> Any:
    """``value`` with every path relative to the project root: two checkouts of one project
    in different folders have the same fingerprint."""
    if isinstance(value, Path):
        return Path(os.path.relpath(value, root)).as_posix()
    if isinstance(value, dict):
        return {k: _portable(v, root) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_portable(v, root) for v in value]
    return value


def is_up_to_date(config: ProgramConfig, fingerprint: str) -> bool:
    """The package exists, was built from the same inputs, was not stopped early and, for a
    verifying compile, was verified."""
    manifest = config.out / config.package / "manifest.json"
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(data, dict)
        and data.get("inputs_fingerprint") == fingerprint
        and not data.get("stopped")
        # A --no-verify build was never checked: a verifying compile must check it.
        and (data.get("verified") is True or not config.verify)
    )
