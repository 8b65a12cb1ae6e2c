"""Resolves ``self.…`` expressions in ``forward`` to the predictors they denote.

A reference is a pattern of path segments where "*" stands for an element the
analyzer cannot pin down: ``self.hops[i]`` is ("hops", "*") and matches every
``hops.N`` predictor; ``self.hops[0]`` is ("hops", "0"); ``self.stage.route``
is ("stage", "route").
"""

from __future__ import annotations

import libcst as cst
from castlm.compiler.analyze.literals import string_value
from castlm.compiler.ir import PredictorIR

Pattern = tuple[str, ...]
ANY = "*"


def _index_segment(index: cst.BaseSlice) -> str | None:
    """The path segment for ``[0]``/``["a"]``; ANY for other indexes; None for slices."""
    if not isinstance(index, cst.Index):
        return None
    value = index.value
    if isinstance(value, cst.Integer) and isinstance(value.evaluated_value, int):
        return str(value.evaluated_value)
    key = string_value(value)
    return key if key is not None else ANY


def member_pattern(node: cst.BaseExpression, self_name: str) -> Pattern | None:
    """The pattern ``node`` denotes below ``self``, or None if it is not ``self.…``."""
    if isinstance(node, cst.Name):
        return () if node.value == self_name else None
    if isinstance(node, cst.Attribute):
        base = member_pattern(node.value, self_name)
        return None if base is None else (*base, node.attr.value)
    if isinstance(node, cst.Subscript) and len(node.slice) == 1:
        base = member_pattern(node.value, self_name)
        if base is None:
            return None
        segment = _index_segment(node.slice[0].slice)
        # A slice of a predictor list still holds that list's elements.
        return base if segment is None else (*base, segment)
    return None


def iterated_pattern(node: cst.BaseExpression, self_name: str) -> Pattern | None:
    """What ``for x in node`` yields: elements of ``self.hops`` or ``self.experts.values()``."""
    if (
        isinstance(node, cst.Call)
        and not node.args
        and isinstance(node.func, cst.Attribute)
        and node.func.attr.value == "values"
    ):
        node = node.func.value
    base = member_pattern(node, self_name)
    return None if base is None else (*base, ANY)


class PredictorTable:
    """The predictors of one module, looked up by pattern."""

    def __init__(self, predictors: tuple[PredictorIR, ...]) -> None:
        self._predictors = {p.path: p for p in predictors}

    def get(self, path: str) -> PredictorIR | None:
        return self._predictors.get(path)

    def matching(self, pattern: Pattern) -> frozenset[str]:
        """Paths of the predictors that ``pattern`` denotes exactly."""
        return frozenset(
            path for path in self._predictors if _matches(tuple(path.split(".")), pattern)
        )


def _matches(path: Pattern, pattern: Pattern) -> bool:
    return len(path) == len(pattern) and all(
        want in (ANY, have) for have, want in zip(path, pattern, strict=True)
    )
