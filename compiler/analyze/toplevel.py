"""Names a file defines at module level: classes, functions and assigned variables."""

from __future__ import annotations

import libcst as cst
from castlm.compiler.ir import ToplevelKind


def target_names(target: cst.BaseExpression) -> list[str]:
    """Names bound by an assignment target, looking into tuple/list unpacking."""
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, cst.Tuple | cst.List):
        return [name for element in target.elements for name in target_names(element.value)]
    if isinstance(target, cst.StarredElement):
        return target_names(target.value)
    return []


class ToplevelCollector(cst.CSTVisitor):
    """Records module-level definitions without looking inside class or function bodies.

    Definitions under top-level ``if``/``try``/``with`` blocks count (``if TYPE_CHECKING:``).
    """

    def __init__(self) -> None:
        self.kinds: dict[str, ToplevelKind] = {}
        self.classes: dict[str, cst.ClassDef] = {}

    def _define(self, name: str, kind: ToplevelKind) -> None:
        self.kinds.setdefault(name, kind)

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self._define(node.name.value, "class")
        self.classes.setdefault(node.name.value, node)
        return False

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self._define(node.name.value, "function")
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            for name in target_names(target.target):
                self._define(name, "assignment")

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        for name in target_names(node.target):
            self._define(name, "assignment")

    def visit_TypeAlias(self, node: cst.TypeAlias) -> None:
        self._define(node.name.value, "assignment")
