"""Shared plumbing for the analyzer's visitors: source positions and diagnostic reporting."""

from __future__ import annotations

from collections.abc import Mapping

import libcst as cst
from castlm.compiler.diagnostics import Diagnostic, Severity
from castlm.compiler.ir import SourceLocation
from libcst.metadata import CodeRange


class Locator:
    """Maps CST nodes to 1-based source locations (libcst columns are 0-based)."""

    def __init__(self, module: cst.Module, positions: Mapping[cst.CSTNode, CodeRange]) -> None:
        self.module = module
        self._positions = positions

    def location(self, node: cst.CSTNode) -> SourceLocation:
        span = self._positions[node]
        return SourceLocation(
            line=span.start.line,
            col=span.start.column + 1,
            end_line=span.end.line,
            end_col=span.end.column + 1,
        )

    def code(self, node: cst.CSTNode) -> str:
        """The source text of ``node``, as written."""
        return self.module.code_for_node(node)


class Reporter:
    """Collects diagnostics for one file, positioned at CST nodes."""

    def __init__(self, path: str, locator: Locator) -> None:
        self.path = path
        self.locator = locator
        self.diagnostics: list[Diagnostic] = []

    def report(
        self,
        node: cst.CSTNode,
        code: str,
        message: str,
        hint: str | None = None,
        severity: Severity = "error",
    ) -> None:
        where = self.locator.location(node)
        self.diagnostics.append(
            Diagnostic(self.path, where.line, where.col, code, message, hint, severity)
        )
