"""Reading a compiled package from its folder: its manifest, and the package imported
under a name of its own, so that two builds of one program (same package name) can be
loaded side by side (``castlm eval A B``, ``castlm diff OLD NEW``)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
import types
from pathlib import Path
from typing import Any

from .errors import CompileError


def package_folder(path: Path) -> tuple[Path, dict[str, Any]]:
    """The package folder (the one holding manifest.json), given it or the --out folder."""
    found = [path / "manifest.json"] if (path / "manifest.json").is_file() else []
    found = found or sorted(path.glob("*/manifest.json"))
    if not found:
        raise CompileError(
            "not a compiled package (no manifest.json here or one folder down); pass the "
            "folder `castlm compile` wrote (its --out)",
            path=path,
        )
    try:
        manifest = json.loads(found[0].read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CompileError(f"cannot read the manifest ({exc})", path=found[0]) from exc
    if not isinstance(manifest, dict) or manifest.get("generator") != "castlm":
        raise CompileError("not a manifest written by castlm", path=found[0])
    return found[0].parent.resolve(), manifest


def import_package(folder: Path) -> types.ModuleType:
    """Import the package in ``folder`` under a name unique to that folder."""
    digest = hashlib.sha1(str(folder).encode()).hexdigest()[:8]
    name = f"castlm_eval_{folder.name}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        name, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    if spec is None or spec.loader is None:
        raise CompileError("cannot import the package (no __init__.py)", path=folder)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise CompileError(
            f"importing the package failed: {type(exc).__name__}: {exc}", path=folder
        ) from exc
    return module
