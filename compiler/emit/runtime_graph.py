"""The runtime's layers and the imports between its modules, read from the source with ``ast``.

Modules are named relative to the ``castlm`` package (``core._predict``; ``""`` is the package
root). The first part of a name is its layer's subpackage. ``LAYERS`` lists them bottom to top:
a module may import from its own rank or a lower one, never from a higher one, and the imports
that run (at module level or inside a function) form no cycle. tests/test_runtime_layout.py
holds the runtime to that; the emitter vendors the modules a package reaches (runtime_copy.py).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import castlm

# Bottom to top. A rank may hold several subpackages: observation names the LM types in its
# annotations while every LM call reports to it, so the two form one rank.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("base",),
    ("observe", "lm"),
    ("embed",),
    ("core",),
    ("tools", "retrieval"),
    ("sandbox",),
    ("modules",),
    ("agents",),
    ("testing",),
    ("",),  # the package root re-exports every layer
)

# Files a module reads instead of importing (the sandbox runs its child's source in a fresh
# interpreter): they travel with it.
READS: dict[str, tuple[str, ...]] = {"sandbox._sandbox": ("sandbox._sandbox_child",)}

# module: an import at module level; lazy: inside a function; typing: under TYPE_CHECKING;
# optional: inside ``try`` with an ``except ImportError`` (the code handles a runtime vendored
# without the target, so such an import may reach up: the stand-in is found only when asked).
EdgeKind = Literal["module", "lazy", "typing", "optional"]


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: EdgeKind
    file: str  # relative to the runtime's folder
    line: int

    def __str__(self) -> str:
        target = self.target or "the package root"
        return f"runtime/{self.file}:{self.line}: {self.kind} import of {target}"


def runtime_root() -> Path:
    return Path(castlm.__file__).parent


def layer_of(module: str) -> str:
    return module.split(".", 1)[0]


def rank_of(module: str) -> int:
    layer = layer_of(module)
    for rank, names in enumerate(LAYERS):
        if layer in names:
            return rank
    raise ValueError(f"runtime module {module!r} is in no layer: add its folder to LAYERS")


def module_files(root: Path | None = None) -> dict[str, Path]:
    """Every runtime module by name (subpackage ``__init__`` files under the package's name),
    without the build-time ``compiler`` subpackage."""
    root = root or runtime_root()
    modules: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[0] == "compiler" or "__pycache__" in parts:
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def import_edges(root: Path | None = None) -> list[Edge]:
    """Every relative import between runtime modules, in file and line order."""
    modules = module_files(root)
    edges: list[Edge] = []
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_bytes(), filename=str(path))
        file = path.relative_to(root or runtime_root()).as_posix()
        for node, kind in _imports(tree.body, "module"):
            base = _base(package, node.level)
            for alias in node.names:
                target = _target(base, node.module, alias.name, modules)
                if target is not None and target != name:
                    edges.append(Edge(name, target, kind, file, node.lineno))
    return edges


def closure(starts: set[str], edges: list[Edge]) -> set[str]:
    """``starts`` and every module they reach through imports other than optional ones (and
    the files they read), with the subpackages (``__init__``) that hold them."""
    out: dict[str, set[str]] = {source: set(read) for source, read in READS.items()}
    for edge in edges:
        if edge.kind != "optional":
            out.setdefault(edge.source, set()).add(edge.target)
    seen: set[str] = set()
    todo = list(starts)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo.extend(out.get(module, ()))
        if "." in module:
            todo.append(module.rpartition(".")[0])
    return seen


def cycle(edges: list[Edge]) -> list[str] | None:
    """One cycle among the imports that run (typing and optional ones left out), or None."""
    out: dict[str, list[str]] = {}
    for edge in edges:
        if edge.kind in ("module", "lazy"):
            out.setdefault(edge.source, []).append(edge.target)
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in out.get(module, ()):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)) is not None:
                return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(out):
        if module not in state and (found := visit(module)) is not None:
            return found
    return None


def _imports(body: list[ast.stmt], kind: EdgeKind) -> Iterator[tuple[ast.ImportFrom, EdgeKind]]:
    for node in body:
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            yield node, kind
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from _imports(node.body, "typing")
            yield from _imports(node.orelse, kind)
        elif isinstance(node, ast.Try) and _catches_import_error(node):
            yield from _imports(node.body, "optional")
            for part in (node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _imports(part, kind)
        else:
            inner: EdgeKind = "lazy" if kind == "module" else kind
            nested = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            for field in ("body", "orelse", "finalbody", "handlers"):
                value = getattr(node, field, None)
                if isinstance(value, list):
                    yield from _imports(_statements(value), inner if nested else kind)


def _statements(values: list[object]) -> list[ast.stmt]:
    statements: list[ast.stmt] = []
    for value in values:
        if isinstance(value, ast.ExceptHandler):
            statements.extend(value.body)
        elif isinstance(value, ast.stmt):
            statements.append(value)
    return statements


def _catches_import_error(node: ast.Try) -> bool:
    caught = [h.type for h in node.handlers if h.type is not None]
    names = {ast.unparse(e) for t in caught for e in (t.elts if isinstance(t, ast.Tuple) else [t])}
    return bool(names & {"ImportError", "ModuleNotFoundError"})


def _base(package: str, level: int) -> str:
    parts = package.split(".") if package else []
    return ".".join(parts[: len(parts) - (level - 1)])


def _target(base: str, module: str | None, name: str, modules: Mapping[str, Path]) -> str | None:
    """The module an import loads: ``from .x import name`` names a module ``x.name`` when there
    is one (``from . import _guards``), else a name defined in ``x``."""
    holder = ".".join(p for p in (base, module or "") if p)
    submodule = f"{holder}.{name}" if holder else name
    if submodule in modules:
        return submodule
    return holder if holder in modules else None


def root_names(root: Path | None = None) -> dict[str, str]:
    """Each name castlm's ``__init__`` re-exports, with the module defining it."""
    return package_names("", root)


def package_names(package: str, root: Path | None = None) -> dict[str, str]:
    """Each name ``package``'s ``__init__`` re-exports (``from .x import Name``), with the
    module defining it (``package.x``)."""
    modules = module_files(root)
    tree = ast.parse(modules[package].read_bytes())
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            module = f"{package}.{node.module}" if package else node.module
            for alias in node.names:
                if module in modules:
                    names[alias.asname or alias.name] = module
    return names
