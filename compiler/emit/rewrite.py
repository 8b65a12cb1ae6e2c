"""Rewrites a program's imports so that it runs inside the emitted package.

castlm is vendored as ``<pkg>/_runtime`` and project-local modules are copied next to
``program.py``, so their imports become relative::

    import castlm as cl              ->  from . import _runtime as cl
    import castlm                    ->  from . import _runtime as castlm
    from castlm import Predict       ->  from ._runtime import Predict
    from castlm.testing import X     ->  from ._runtime.testing import X
    import helpers                   ->  from . import helpers
    from helpers import clean        ->  from .helpers import clean

Everything else, formatting and comments included, is left as written.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import libcst as cst
from castlm.compiler.emit.errors import EmitError

RUNTIME_PACKAGE = "_runtime"
# Binds a submodule import (``import castlm.testing``) just long enough to load it.
_SUBMODULE_ALIAS = "_castlm_submodule"


class ImportRewriter(cst.CSTTransformer):
    """Rewrites castlm and local-module imports anywhere in a module.

    ``level`` is how many dots reach the emitted package's root from the rewritten file:
    1 for ``program.py``, 2 for a file inside a vendored local package.
    """

    def __init__(self, local_modules: Collection[str], level: int = 1) -> None:
        super().__init__()
        self._local = frozenset(local_modules)
        self._level = level

    # -- statements ----------------------------------------------------------------------
    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine | cst.FlattenSentinel[cst.SimpleStatementLine]:
        body = self._expand(updated_node.body)
        if body is None:
            return updated_node
        if len(body) == len(updated_node.body):
            return updated_node.with_changes(body=body)
        # One import became several statements: give each its own line, keeping the
        # original line's leading comments on the first and its trailing comment on the last.
        lines = [
            cst.SimpleStatementLine(body=[s.with_changes(semicolon=cst.MaybeSentinel.DEFAULT)])
            for s in body
        ]
        lines[0] = lines[0].with_changes(leading_lines=updated_node.leading_lines)
        lines[-1] = lines[-1].with_changes(trailing_whitespace=updated_node.trailing_whitespace)
        return cst.FlattenSentinel(lines)

    def leave_SimpleStatementSuite(
        self, original_node: cst.SimpleStatementSuite, updated_node: cst.SimpleStatementSuite
    ) -> cst.SimpleStatementSuite:
        body = self._expand(updated_node.body)
        if body is None:
            return updated_node
        if len(body) != len(updated_node.body):
            last = len(body) - 1
            body = [
                s.with_changes(semicolon=cst.MaybeSentinel.DEFAULT) if i == last else _semi(s)
                for i, s in enumerate(body)
            ]
        return updated_node.with_changes(body=body)

    def _expand(
        self, body: Sequence[cst.BaseSmallStatement]
    ) -> list[cst.BaseSmallStatement] | None:
        """The statements with imports rewritten, or None when nothing changes."""
        changed = False
        result: list[cst.BaseSmallStatement] = []
        for statement in body:
            replacement = self._rewrite(statement)
            if replacement is None:
                result.append(statement)
                continue
            changed = True
            if len(replacement) == 1:  # keeps ``a; b`` on one line as written
                replacement = [replacement[0].with_changes(semicolon=statement.semicolon)]
            result.extend(replacement)
        return result if changed else None

    def _rewrite(self, statement: cst.BaseSmallStatement) -> list[cst.BaseSmallStatement] | None:
        if isinstance(statement, cst.ImportFrom):
            rewritten = self._rewrite_from(statement)
            return None if rewritten is None else [rewritten]
        if isinstance(statement, cst.Import):
            return self._rewrite_import(statement)
        return None

    # -- from X import ... ---------------------------------------------------------------
    def _rewrite_from(self, node: cst.ImportFrom) -> cst.ImportFrom | None:
        if node.relative or node.module is None:
            return None
        target = self.target(_dotted(node.module))
        if target is None:
            return None
        return node.with_changes(relative=_dots(self._level), module=_module_expr(target))

    # -- import X ------------------------------------------------------------------------
    def _rewrite_import(self, node: cst.Import) -> list[cst.BaseSmallStatement] | None:
        kept: list[cst.ImportAlias] = []
        added: list[cst.BaseSmallStatement] = []
        for alias in node.names:
            replacement = self._rewrite_alias(alias)
            if replacement is None:
                kept.append(alias.with_changes(comma=cst.MaybeSentinel.DEFAULT))
            else:
                added.extend(replacement)
        if not added:
            return None
        if not kept:
            return added
        return [cst.Import(names=_comma_separated(kept)), *added]

    def _rewrite_alias(self, alias: cst.ImportAlias) -> list[cst.BaseSmallStatement] | None:
        module = _dotted(alias.name)
        target = self.target(module)
        if target is None:
            return None
        if alias.asname is not None:
            bound = cst.ensure_type(alias.asname.name, cst.Name).value
            return [self._from_import(target, bound)]
        # ``import a.b.c`` binds ``a`` and loads a.b.c: bind the root, then load each level.
        parts = module.split(".")
        root_target = self.target(parts[0])
        assert root_target is not None  # a target for a.b.c implies one for a
        statements: list[cst.BaseSmallStatement] = [self._from_import(root_target, parts[0])]
        for depth in range(2, len(parts) + 1):
            deeper = self.target(".".join(parts[:depth]))
            assert deeper is not None
            statements.append(self._from_import(deeper, _SUBMODULE_ALIAS))
            statements.append(cst.Del(target=cst.Name(_SUBMODULE_ALIAS)))
        return statements

    def _from_import(self, target: str, bound: str) -> cst.ImportFrom:
        """``from .<parent> import <last> [as bound]`` for a dotted target inside the package."""
        parent, _, last = target.rpartition(".")
        asname = None if bound == last else cst.AsName(name=cst.Name(bound))
        return cst.ImportFrom(
            module=_module_expr(parent) if parent else None,
            names=[cst.ImportAlias(name=cst.Name(last), asname=asname)],
            relative=_dots(self._level),
        )

    # -- where modules go ----------------------------------------------------------------
    def target(self, module: str) -> str | None:
        """The module's dotted path inside the emitted package, or None if it stays put."""
        if module == "castlm" or module.startswith("castlm."):
            if module == "castlm.compiler" or module.startswith("castlm.compiler."):
                raise EmitError(
                    f"the program imports {module}, which exists only at build time and is "
                    f"not part of the emitted package; import it inside a function that "
                    f"production never calls, or move that code out of the program"
                )
            return RUNTIME_PACKAGE + module[len("castlm") :]
        if any(module == name or module.startswith(name + ".") for name in self._local):
            return module
        return None


def rewrite_source(source: bytes, local_modules: Collection[str], level: int = 1) -> bytes:
    """``source`` with its castlm and local imports rewritten (encoding kept as declared)."""
    module = cst.parse_module(source)
    return module.visit(ImportRewriter(local_modules, level)).bytes


def rewrite_statement(statement: str, local_modules: Collection[str]) -> str:
    """One import statement, rewritten for a file at the package root (``__init__.py``)."""
    module = cst.parse_module(statement.strip() + "\n")
    return module.visit(ImportRewriter(local_modules)).code.strip()


def _dotted(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    raise EmitError(f"unexpected module expression {cst.Module([]).code_for_node(node)!r}")


def _module_expr(dotted: str) -> cst.Attribute | cst.Name:
    head, _, last = dotted.rpartition(".")
    if not head:
        return cst.Name(last)
    return cst.Attribute(value=_module_expr(head), attr=cst.Name(last))


def _dots(level: int) -> list[cst.Dot]:
    return [cst.Dot() for _ in range(level)]


def _comma_separated(aliases: list[cst.ImportAlias]) -> list[cst.ImportAlias]:
    return [
        alias
        if i == len(aliases) - 1
        else alias.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        for i, alias in enumerate(aliases)
    ]


def _semi(statement: cst.BaseSmallStatement) -> cst.BaseSmallStatement:
    if isinstance(statement.semicolon, cst.Semicolon):
        return statement
    return statement.with_changes(
        semicolon=cst.Semicolon(whitespace_after=cst.SimpleWhitespace(" "))
    )
