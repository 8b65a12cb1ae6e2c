"""The castlm runtime files vendored into an emitted package (``<pkg>/_runtime``).

The runtime is the installed ``castlm`` package minus the build-time ``castlm.compiler``
subpackage. It uses relative imports only, so its files are copied byte for byte. A package
gets only the modules it reaches: those its own files import (or name, through castlm's
re-exports), the modules castlm's ``__init__`` imports at once, and everything those import
in turn (runtime_graph.py), and the parts that only some programs reach (runtime_features.py:
a litellm model, a fallback chain, castlm._aforward for a module without ``aforward``). The
offline stand-in (``testing``) comes only with a package compiled with it, where
``CASTLM_MODEL=standin`` chooses it on purpose, and then only the parts of it that its program
can use (runtime_standin.py).
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass

from castlm.compiler.emit.rewrite import RUNTIME_PACKAGE
from castlm.compiler.emit.runtime_features import AFORWARD, feature_modules, needs_aforward
from castlm.compiler.emit.runtime_graph import (
    closure,
    import_edges,
    layer_of,
    module_files,
    package_names,
    root_names,
    runtime_root,
)
from castlm.compiler.emit.runtime_init import vendored_init
from castlm.compiler.emit.runtime_standin import STANDIN_LAYER, standin_modules

# The ``__init__`` files whose re-exports are trimmed to the modules vendored (runtime_init.py):
# the closure does not follow their imports.
TRIMMED_INITS = ("", STANDIN_LAYER)


@dataclass(frozen=True)
class Footprint:
    """What a package vendors of the runtime: bytes and files on disk, and its layers."""

    bytes: int
    files: int
    layers: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {"bytes": self.bytes, "files": self.files, "layers": list(self.layers)}

    def __str__(self) -> str:
        return f"{self.bytes / 1000:.1f} kB in {self.files} files ({', '.join(self.layers)})"


def vendored_modules(
    files: Mapping[str, bytes], package: str, *, standin: bool, include: Collection[str] = ()
) -> set[str]:
    """The runtime modules that ``files`` (the rest of the package) need, with the parts in
    ``include`` (runtime_features.FEATURES names: the config's and the LM's; naming a part of
    the stand-in vendors the stand-in)."""
    edges = import_edges()
    eager = {e.target for e in edges if e.source == "" and e.kind == "module"}
    parts = feature_modules(include)
    standin = standin or any(layer_of(m) == STANDIN_LAYER for m in parts)
    uses = runtime_uses(files, package)
    starts = {"", *eager, *uses, *parts}
    # The root's other imports (for type checkers, and _LAZY) are dropped with what they name,
    # and so are the stand-in's re-exports of the parts a package goes without.
    below = [e for e in edges if e.source not in TRIMMED_INITS]
    modules = closure(starts, below)
    if standin:
        modules = closure({*modules, *standin_modules(files, package, uses, modules)}, below)
    if AFORWARD not in modules and needs_aforward(_python_sources(files, package, modules)):
        modules = closure({*modules, AFORWARD}, below)
    return modules


def _python_sources(
    files: Mapping[str, bytes], package: str, modules: Collection[str]
) -> dict[str, bytes]:
    """The package's own Python files and the vendored runtime modules but Module's own (its
    base ``forward`` only raises), by path."""
    own = {p: d for p, d in files.items() if not p.startswith(f"{package}/{RUNTIME_PACKAGE}/")}
    paths = module_files()
    runtime = {str(paths[m]): paths[m].read_bytes() for m in modules if m != "core._module"}
    return {**own, **runtime}


def runtime_files(modules: Collection[str]) -> dict[str, bytes]:
    """The files of ``modules`` and ``py.typed``, keyed by path relative to the runtime; the
    ``__init__`` drops what the other modules would have re-exported (runtime_init.py)."""
    root = runtime_root()
    files = {"py.typed": (root / "py.typed").read_bytes()}
    for module, path in module_files().items():
        if module in modules:
            data = path.read_bytes()
            files[path.relative_to(root).as_posix()] = (
                vendored_init(data, modules, module) if module in TRIMMED_INITS else data
            )
    return files


def footprint(files: Mapping[str, bytes], package: str) -> Footprint:
    prefix = f"{package}/{RUNTIME_PACKAGE}/"
    vendored = {p.removeprefix(prefix): d for p, d in files.items() if p.startswith(prefix)}
    layers = {layer_of(p.replace("/", ".")) for p in vendored if "/" in p}
    return Footprint(sum(map(len, vendored.values())), len(vendored), tuple(sorted(layers)))


def runtime_uses(files: Mapping[str, bytes], package: str) -> set[str]:
    """The runtime modules the package's Python files import or name: ``from ._runtime.x._y
    import ...`` names ``x._y``; a name castlm re-exports (``from ._runtime import ReAct``,
    ``cl.ReAct`` after ``from . import _runtime as cl``) names the module defining it."""
    names = {**root_names(), **package_names(STANDIN_LAYER)}
    modules = set(module_files())
    uses: set[str] = set()
    for path, data in files.items():
        if not path.endswith(".py") or path.startswith(f"{package}/{RUNTIME_PACKAGE}/"):
            continue
        tree = ast.parse(data, filename=path)
        for dotted in _runtime_imports(tree, path):
            uses.update(m for m in (dotted, *_prefixes(dotted)) if m in modules)
        uses.update(names[i] for i in _identifiers(tree) if i in names)
    return uses


def _runtime_imports(tree: ast.Module, path: str) -> Iterator[str]:
    """``x._y`` for every import of ``<pkg>._runtime.x._y`` (and of names in it) in ``tree``."""
    package = path.split("/")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            dotted = ".".join([*base, *(node.module.split(".") if node.module else [])])
            for alias in node.names:
                yield from _inside_runtime(f"{dotted}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield from _inside_runtime(alias.name)


def _inside_runtime(dotted: str) -> Iterator[str]:
    parts = dotted.split(".")
    if RUNTIME_PACKAGE in parts:
        yield ".".join(parts[parts.index(RUNTIME_PACKAGE) + 1 :])


def _prefixes(dotted: str) -> list[str]:
    parts = dotted.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _identifiers(tree: ast.Module) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.alias):
            found.add(node.name.rpartition(".")[2])
    return found
