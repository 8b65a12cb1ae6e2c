"""An emitted package as a teacher: its program and frozen parameters, on castlm's runtime.

A package runs on its vendored copy of the runtime (``<pkg>/_runtime``), whose traces,
contexts and LM hooks are its own, so castlm could not see its calls. The teacher is loaded
the other way round: the package's ``program.py`` (and its vendored local modules) is
imported under a private module name whose ``_runtime`` *is* castlm, and the package's
``_frozen.PARAMS`` (instructions, demos, per-predictor models, KNN pools) are applied to a
fresh instance. The result is an ordinary castlm Module: its calls are traced, cached,
metered and budgeted like the student's. Nothing in the package folder is written.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import itertools
import json
import re
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from castlm import Module

from .emit.manifest import GENERATOR
from .emit.rewrite import RUNTIME_PACKAGE
from .errors import CompileError

MANIFEST = "manifest.json"
_PREFIX = "_castlm_teacher_"
_RUNTIME_ALIAS = re.compile(rf"^{_PREFIX}\w+\.{RUNTIME_PACKAGE}(?:\.|$)")
_NUMBERS = itertools.count()
_INSTALL_LOCK = threading.Lock()


@dataclass(frozen=True)
class PackageFolder:
    """An emitted package found on disk: the folder holding its manifest, and the manifest."""

    folder: Path
    manifest: dict[str, Any]

    @property
    def module_class(self) -> str:
        return str(self.manifest.get("module_class", ""))

    def files(self) -> list[Path]:
        """The package's own files (not the vendored runtime, not bytecode caches)."""
        return sorted(
            path
            for path in self.folder.rglob("*")
            if path.is_file()
            and not {RUNTIME_PACKAGE, "__pycache__"} & set(path.relative_to(self.folder).parts)
        )


def find(path: Path) -> PackageFolder | str:
    """The package at ``path`` (the package folder, or the output folder that holds it), or
    why there is none."""
    if not path.is_dir():
        return "does not exist" if not path.exists() else "is not a folder"
    candidates = [path] if (path / MANIFEST).is_file() else sorted(path.glob(f"*/{MANIFEST}"))
    found = [p for p in (c if c.is_dir() else c.parent for c in candidates) if _manifest(p)]
    if len(found) != 1:
        what = "no package" if not found else f"{len(found)} packages"
        return (
            f"holds {what} emitted by castlm compile (a folder with {MANIFEST} written by "
            f"castlm); point teacher at one compile's output folder or its package folder"
        )
    folder = found[0]
    manifest = _manifest(folder) or {}
    missing = [n for n in ("program.py", "_frozen.py") if not (folder / n).is_file()]
    if missing or not manifest.get("module_class"):
        lacking = ", ".join(missing) or f"module_class in {MANIFEST}"
        return f"is a castlm package without {lacking}; compile the teacher again"
    return PackageFolder(folder, manifest)


def _manifest(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) and data.get("generator") == GENERATOR else None


def load(package: PackageFolder) -> Module:
    """A fresh instance of the package's program with its frozen parameters, on castlm (its
    errors name no location: the caller knows where the package was named)."""
    alias = _import_as_package(package.folder)
    try:
        program = importlib.import_module(f"{alias}.program")
        frozen = importlib.import_module(f"{alias}._frozen")
    except Exception as exc:
        raise CompileError(
            f"importing the teacher package {package.folder} failed: {type(exc).__name__}: "
            f"{exc}; compile the teacher again with this castlm",
        ) from exc
    params = getattr(frozen, "PARAMS", None)
    if params is None:
        raise CompileError(
            f"the teacher package {package.folder} is an ensemble (its _frozen.py holds "
            f"MEMBERS, not PARAMS); a teacher runs one program: compile it with another "
            f"optimizer, or use one member's program as teacher = 'file.py:Class'",
        )
    module_class = getattr(program, package.module_class, None)
    if not (isinstance(module_class, type) and issubclass(module_class, Module)):
        raise CompileError(
            f"the teacher package {package.folder} has no module class "
            f"{package.module_class!r} in program.py; compile the teacher again",
        )
    try:
        teacher = module_class()
        teacher.set_params(params)
    except Exception as exc:
        raise CompileError(
            f"creating the teacher {package.module_class}() from {package.folder} failed: "
            f"{type(exc).__name__}: {exc}",
        ) from exc
    return teacher


def _import_as_package(folder: Path) -> str:
    """Register ``folder`` as a package under a new private name; its ``__init__.py`` (the
    entry points, which build LMs) is not run, only the modules the teacher needs."""
    _install_finder()
    digest = hashlib.sha256(str(folder).encode()).hexdigest()[:12]
    alias = f"{_PREFIX}{digest}_{next(_NUMBERS)}"  # a fresh name: the files may have changed
    spec = importlib.machinery.ModuleSpec(alias, None, is_package=True)
    spec.submodule_search_locations = [str(folder)]
    package = importlib.util.module_from_spec(spec)
    sys.modules[alias] = package
    return alias


def _install_finder() -> None:
    with _INSTALL_LOCK:
        if not any(isinstance(f, _RuntimeIsCastlm) for f in sys.meta_path):
            sys.meta_path.insert(0, _RuntimeIsCastlm())


class _RuntimeIsCastlm(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves ``<teacher alias>._runtime[.sub]`` to castlm's own ``castlm[.sub]`` module,
    so the teacher's program uses castlm's classes, contexts and traces."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not _RUNTIME_ALIAS.match(fullname):
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        _, _, rest = spec.name.partition(f".{RUNTIME_PACKAGE}")
        return importlib.import_module(f"castlm{rest}")

    def exec_module(self, module: ModuleType) -> None:
        """castlm's module, already executed."""
