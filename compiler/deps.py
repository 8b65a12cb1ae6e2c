"""The project-local files a program imports, so a build can tell when it is stale.

Resolution is syntactic (``ast``) and conservative: every import anywhere in a
file counts, including ones inside functions or ``if TYPE_CHECKING:``, because
missing a dependency would leave a stale build, while an extra one only costs a
rebuild. Absolute imports are looked up the way ``python program.py`` would find
them locally: first in the program's folder, then under the project root.
Anything that does not resolve to a file there (stdlib, site-packages) is ignored.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path


def _module_file(directory: Path, dotted: str) -> list[Path]:
    """Files executed by importing ``dotted`` from ``directory``; [] if not found there.

    ``import a.b.c`` runs ``a/__init__.py`` and ``a/b/__init__.py`` (when present;
    namespace packages have none) before ``a/b/c.py`` or ``a/b/c/__init__.py``.
    """
    parts = [part for part in dotted.split(".") if part]
    if not parts:
        return []
    packages = [directory.joinpath(*parts[:i], "__init__.py") for i in range(1, len(parts))]
    target = directory.joinpath(*parts)
    for candidate in (target.with_suffix(".py"), target / "__init__.py"):
        if candidate.is_file():
            return [p for p in packages if p.is_file()] + [candidate]
    return []


def _relative_base(file: Path, level: int) -> Path:
    """The package folder ``from .`` (level 1), ``from ..`` (level 2), ... refers to."""
    base = file.parent
    for _ in range(level - 1):
        base = base.parent
    return base


class _ImportTargets:
    """Resolves the imports of one file against the search roots."""

    def __init__(self, file: Path, roots: list[Path]) -> None:
        self._file = file
        self._roots = roots

    def absolute(self, dotted: str) -> list[Path]:
        for root in self._roots:
            found = _module_file(root, dotted)
            if found:
                return found
        return []

    def relative(self, level: int, dotted: str) -> list[Path]:
        base = _relative_base(self._file, level)
        if not dotted:
            init = base / "__init__.py"
            return [init] if init.is_file() else []
        return _module_file(base, dotted)

    def of(self, node: ast.Import | ast.ImportFrom) -> Iterator[Path]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from self.absolute(alias.name)
            return
        module = node.module or ""
        yield from self._from(node.level, module)
        # ``from pkg import name`` may import the submodule pkg/name.py.
        for alias in node.names:
            if alias.name != "*":
                yield from self._from(
                    node.level, f"{module}.{alias.name}" if module else alias.name
                )

    def _from(self, level: int, dotted: str) -> list[Path]:
        return self.relative(level, dotted) if level else self.absolute(dotted)


def _imports(file: Path) -> Iterator[ast.Import | ast.ImportFrom]:
    try:
        tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
    except (SyntaxError, ValueError, UnicodeDecodeError, OSError):
        # A broken dependency is still a dependency; it just has no imports we can see.
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node


def _is_within(path: Path, folders: list[Path]) -> bool:
    return any(path.is_relative_to(folder) for folder in folders)


def local_dependencies(program_path: Path, project_root: Path) -> list[Path]:
    """Project-local Python files ``program_path`` imports, transitively, sorted.

    Returned paths are resolved (absolute); the program itself is not included.
    """
    program = program_path.resolve()
    roots = list(dict.fromkeys([program.parent, project_root.resolve()]))
    seen = {program}
    pending = [program]
    while pending:
        current = pending.pop()
        targets = _ImportTargets(current, roots)
        for node in _imports(current):
            for found in targets.of(node):
                resolved = found.resolve()
                if resolved not in seen and _is_within(resolved, roots):
                    seen.add(resolved)
                    pending.append(resolved)
    return sorted(seen - {program})
