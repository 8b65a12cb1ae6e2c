"""Module-level imports: the ImportIR list and the alias table used to resolve names.

The alias table is what lets every later visitor recognize ``cl.Signature``,
``castlm.Signature`` and ``from castlm import Signature as S`` as the same thing.
"""

from __future__ import annotations

import libcst as cst
from castlm.compiler.analyze.context import Locator
from castlm.compiler.ir import ImportedName, ImportIR


def dotted_name(node: cst.BaseExpression) -> str | None:
    """``a.b.c`` as text, or None if the expression is not a plain dotted name."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = dotted_name(node.value)
        return None if base is None else f"{base}.{node.attr.value}"
    return None


class Aliases:
    """Resolves expressions to the fully qualified names the file's imports give them."""

    def __init__(self, bound: dict[str, str], star_modules: tuple[str, ...]) -> None:
        # bound name -> qualified name, e.g. "cl" -> "castlm", "S" -> "castlm.Signature".
        self.bound = bound
        # Modules imported with ``*``: unknown names may come from them.
        self.star_modules = star_modules

    def qualify(self, node: cst.BaseExpression) -> str | None:
        """``cl.Predict`` -> "castlm.Predict"; None unless the root name was imported."""
        if isinstance(node, cst.Name):
            return self.bound.get(node.value)
        if isinstance(node, cst.Attribute):
            base = self.qualify(node.value)
            return None if base is None else f"{base}.{node.attr.value}"
        return None

    def castlm_name(self, node: cst.BaseExpression) -> str | None:
        """The castlm API name an expression refers to (``cl.Predict`` -> "Predict")."""
        qualified = self.qualify(node)
        if qualified is None or not qualified.startswith("castlm."):
            return None
        # The public API lives at castlm.X, but castlm.sub.X re-exports mean the same X.
        return qualified.rsplit(".", 1)[1]

    def is_imported(self, name: str) -> bool:
        return name in self.bound


def _relative_prefix(node: cst.ImportFrom) -> str:
    return "." * len(node.relative)


def _import_names(node: cst.Import) -> tuple[ImportedName, ...]:
    return tuple(
        ImportedName(dotted_name(alias.name) or "", _alias_text(alias)) for alias in node.names
    )


def _alias_text(alias: cst.ImportAlias) -> str | None:
    if alias.asname is None or not isinstance(alias.asname.name, cst.Name):
        return None
    return alias.asname.name.value


class ImportCollector(cst.CSTVisitor):
    """Collects module-level imports (including those under top-level ``if``/``try``)."""

    def __init__(self, locator: Locator) -> None:
        self._locator = locator
        self.imports: list[ImportIR] = []
        self._bound: dict[str, str] = {}
        self._star_modules: list[str] = []

    @property
    def aliases(self) -> Aliases:
        return Aliases(dict(self._bound), tuple(self._star_modules))

    def _source(self, node: cst.Import | cst.ImportFrom) -> str:
        # Drop the ``;`` of ``import a; import b`` so the text is a statement of its own.
        return self._locator.code(node.with_changes(semicolon=cst.MaybeSentinel.DEFAULT)).strip()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_Import(self, node: cst.Import) -> None:
        names = _import_names(node)
        for imported in names:
            # ``import a.b`` binds ``a``; ``import a.b as c`` binds ``c`` to a.b.
            target = imported.name if imported.alias else imported.name.split(".")[0]
            self._bound[imported.bound_name] = target
        self.imports.append(ImportIR(self._source(node), "", names, False, 0, is_from=False))

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        module = dotted_name(node.module) if node.module is not None else ""
        prefix = _relative_prefix(node) + (module or "")
        if isinstance(node.names, cst.ImportStar):
            names: tuple[ImportedName, ...] = (ImportedName("*", None),)
            self._star_modules.append(prefix)
        else:
            names = tuple(
                ImportedName(dotted_name(alias.name) or "", _alias_text(alias))
                for alias in node.names
            )
            for imported in names:
                separator = "" if prefix.endswith(".") else "."
                self._bound[imported.bound_name] = f"{prefix}{separator}{imported.name}"
        self.imports.append(
            ImportIR(
                source=self._source(node),
                module=module or "",
                names=names,
                is_relative=bool(node.relative),
                level=len(node.relative),
                is_from=True,
            )
        )
