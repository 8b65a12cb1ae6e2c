"""The runtime's layers (compiler/emit/runtime_graph.py): every import goes down or stays in
its rank, and the imports that run form no cycle. A failure names the offending import."""

from __future__ import annotations

from pathlib import Path

import pytest
from castlm.compiler.emit.runtime_graph import (
    READS,
    Edge,
    closure,
    cycle,
    import_edges,
    layer_of,
    module_files,
    rank_of,
)


def _upward(edges: list[Edge]) -> list[Edge]:
    return [e for e in edges if rank_of(e.target) > rank_of(e.source)]


def test_every_runtime_module_sits_in_a_layer() -> None:
    for module in module_files():
        rank_of(module)  # raises, naming the module


def test_runtime_imports_only_go_down() -> None:
    upward = [str(e) for e in _upward(import_edges()) if e.kind != "optional"]
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(upward)


def test_only_the_stand_in_is_reached_by_an_optional_upward_import() -> None:
    upward = [e for e in _upward(import_edges()) if e.kind == "optional"]
    assert {layer_of(e.target) for e in upward} <= {"testing"}, [str(e) for e in upward]


def test_runtime_imports_form_no_cycle() -> None:
    found = cycle(import_edges())
    assert found is None, "import cycle: " + " -> ".join(found or ())


# -- the checks themselves, on small trees -------------------------------------------------
def _tree(root: Path, files: dict[str, str]) -> Path:
    for relative, text in {"__init__.py": "", **files}.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_an_upward_import_in_a_function_is_found_and_named(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "base/__init__.py": "",
            "base/_low.py": "def f():\n    from ..core._high import g\n",
            "core/__init__.py": "",
            "core/_high.py": "from ..base import _low\n",
        },
    )
    edges = import_edges(root)
    assert [str(e) for e in _upward(edges)] == ["runtime/base/_low.py:2: lazy import of core._high"]
    assert cycle(edges) == ["base._low", "core._high", "base._low"]


def test_type_only_and_optional_imports_are_told_apart(tmp_path: Path) -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ._b import B\n"
        "try:\n    from ._c import C\nexcept ImportError:\n    C = None\n"
    )
    root = _tree(tmp_path, {"core/__init__.py": "", "core/_a.py": source, "core/_b.py": "",
                            "core/_c.py": "from . import _a\n"})  # fmt: skip
    kinds = {e.target: e.kind for e in import_edges(root) if e.source == "core._a"}
    assert kinds == {"core._b": "typing", "core._c": "optional"}
    assert cycle(import_edges(root)) is None  # an optional import does not make a cycle
    assert closure({"core._a"}, import_edges(root)) == {"core._a", "core._b", "core"}


def test_a_module_outside_every_layer_is_refused() -> None:
    with pytest.raises(ValueError, match=r"'plugins\._x' is in no layer"):
        rank_of("plugins._x")


def test_every_runtime_module_is_imported_or_read() -> None:
    """A module nothing imports would be left out of every emitted package."""
    modules = module_files()
    reached = {e.target for e in import_edges()} | {m for r in READS.values() for m in r}
    packages = {m for m, path in modules.items() if path.name == "__init__.py"}
    assert set(modules) - reached - packages == set()
