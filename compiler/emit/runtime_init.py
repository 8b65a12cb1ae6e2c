"""The vendored runtime's ``__init__.py``: castlm's own, less what was not vendored.

castlm's ``__init__`` re-exports every layer (most names lazily, through ``_LAZY``, and for
type checkers under ``TYPE_CHECKING``). A package that vendors part of the runtime keeps the
same file with the imports, ``_LAZY`` entries and ``__all__`` names of the modules it left
out removed, so mypy and pyright see no import of a missing module and ``dir()`` lists only
what works. Everything else, comments included, stays as castlm wrote it. The stand-in's
``testing/__init__.py`` is trimmed the same way (runtime_standin.py vendors part of it).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TypeVar

import libcst as cst


def vendored_init(source: bytes, vendored: Collection[str], package: str = "") -> bytes:
    """``source`` (the ``__init__.py`` of castlm, or of its subpackage ``package``, such as
    ``testing``) keeping only what ``vendored`` modules define; ``vendored`` names modules
    relative to castlm (``core._predict``)."""
    tree = cst.parse_module(source)
    prefix = f"{package}." if package else ""
    inside = {m.removeprefix(prefix) for m in vendored if m.startswith(prefix)}
    dropper = _Dropper(frozenset(inside))
    kept = tree.visit(dropper)
    return kept.visit(_AllFilter(dropper.dropped)).code.encode("utf-8")


class _Dropper(cst.CSTTransformer):
    def __init__(self, vendored: frozenset[str]) -> None:
        super().__init__()
        self._vendored = vendored
        self.dropped: set[str] = set()

    def leave_ImportFrom(
        self, original: cst.ImportFrom, updated: cst.ImportFrom
    ) -> cst.ImportFrom | cst.RemovalSentinel:
        module = _relative_module(updated)
        if module is None or module in self._vendored or isinstance(updated.names, cst.ImportStar):
            return updated
        self.dropped.update(_alias_name(a) for a in updated.names)
        return cst.RemoveFromParent()

    def leave_Dict(self, original: cst.Dict, updated: cst.Dict) -> cst.Dict:
        """``_LAZY`` without the names of modules left out."""
        kept = [e for e in updated.elements if not self._drops(e)]
        return updated.with_changes(elements=_closed(kept, updated.elements))

    def _drops(self, element: cst.BaseDictElement) -> bool:
        if not isinstance(element, cst.DictElement):
            return False
        key, value = element.key, element.value
        if not (isinstance(key, cst.SimpleString) and isinstance(value, cst.SimpleString)):
            return False
        target = str(value.evaluated_value)
        if not target.startswith(".") or target.lstrip(".") in self._vendored:
            return False
        self.dropped.add(str(key.evaluated_value))
        return True

    def leave_If(self, original: cst.If, updated: cst.If) -> cst.If:
        # An ``if TYPE_CHECKING:`` whose imports all went keeps a body.
        if isinstance(updated.body, cst.IndentedBlock) and not updated.body.body:
            body = updated.body.with_changes(body=[cst.SimpleStatementLine([cst.Pass()])])
            return updated.with_changes(body=body)
        return updated


class _AllFilter(cst.CSTTransformer):
    """Drops the dropped names from ``__all__``."""

    def __init__(self, dropped: Collection[str]) -> None:
        super().__init__()
        self._dropped = frozenset(dropped)

    def leave_List(self, original: cst.List, updated: cst.List) -> cst.List:
        kept = [e for e in updated.elements if not self._drops(e)]
        return updated.with_changes(elements=_closed(kept, updated.elements))

    def _drops(self, element: cst.BaseElement) -> bool:
        value = element.value
        return isinstance(value, cst.SimpleString) and value.evaluated_value in self._dropped


E = TypeVar("E", cst.BaseDictElement, cst.BaseElement)


def _closed(kept: list[E], elements: Sequence[E]) -> list[E]:
    """``kept``, its last element ending like the original last one (the comma and the line
    break before the closing bracket)."""
    if kept and len(kept) < len(elements):
        kept[-1] = kept[-1].with_changes(comma=elements[-1].comma)
    return kept


def _relative_module(node: cst.ImportFrom) -> str | None:
    if not node.relative or node.module is None:
        return None
    return _dotted(node.module)


def _dotted(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    raise TypeError(f"not a dotted name: {node!r}")


def _alias_name(alias: cst.ImportAlias) -> str:
    bound = alias.asname.name if alias.asname is not None else alias.name
    return _dotted(bound) if isinstance(bound, cst.Name | cst.Attribute) else ""
