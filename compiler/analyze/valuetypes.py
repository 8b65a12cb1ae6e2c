"""Static input types at predictor calls (CL208): a value whose type castlm can see for sure.

Only two kinds of argument have a type castlm knows without a type checker: a literal
(``"high"``, ``3``, ``None``, ``[...]``) and a ``forward`` parameter annotated with a builtin
scalar that the body never rebinds. Only field annotations castlm can read on its own are
checked against them: builtin scalars and containers, ``Literal[...]``, ``Optional[...]``
and ``X | None``. Anything else is left to mypy and pyright.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass

import libcst as cst

_SCALARS = frozenset({"str", "int", "float", "bool"})
_CONTAINERS = {
    "list": "list", "List": "list", "dict": "dict", "Dict": "dict",
    "tuple": "tuple", "Tuple": "tuple", "set": "set", "Set": "set",
}  # fmt: skip
# What a value of each kind may be passed as (bool is an int, and ints are floats).
_ACCEPTS = {"int": {"int", "bool"}, "float": {"float", "int", "bool"}}


@dataclass(frozen=True)
class StaticValue:
    kind: str  # "str", "int", "float", "bool", "None", "list", "dict", "tuple", "set"
    literal: object = None  # the value itself, for literals of scalars
    is_literal: bool = False

    def describe(self) -> str:
        return f"{self.kind} ({self.literal!r})" if self.is_literal else self.kind


@dataclass(frozen=True)
class Expected:
    kinds: frozenset[str]
    literals: tuple[object, ...] = ()

    def describe(self) -> str:
        parts = sorted(self.kinds) + [repr(v) for v in self.literals]
        return " | ".join(parts)

    def hint(self) -> str:
        if self.literals and not self.kinds:
            return f"pass one of {', '.join(map(repr, self.literals))}"
        return f"pass a value of type {self.describe()}"

    def accepts(self, value: StaticValue) -> bool:
        if any(value.kind in _ACCEPTS.get(kind, {kind}) for kind in self.kinds):
            return True
        if not self.literals:
            return False
        # A typed parameter could hold one of the allowed values: left to the type checkers.
        return not value.is_literal or value.literal in self.literals


def static_value(node: cst.BaseExpression, typed_params: Mapping[str, str]) -> StaticValue | None:
    """The type of ``node`` if castlm can be sure of it, else None."""
    if isinstance(node, cst.Integer | cst.Float):
        number = node.evaluated_value
        return StaticValue(type(number).__name__, number, True)
    if isinstance(node, cst.SimpleString | cst.ConcatenatedString):
        text = node.evaluated_value  # None when an f-string is part of it; bytes for b"..."
        if isinstance(text, bytes):
            return None
        return StaticValue("str", text, True) if text is not None else StaticValue("str")
    if isinstance(node, cst.FormattedString):
        return StaticValue("str")
    if isinstance(node, cst.Name):
        if node.value in ("True", "False"):
            return StaticValue("bool", node.value == "True", True)
        if node.value == "None":
            return StaticValue("None", None, True)
        kind = typed_params.get(node.value)
        return StaticValue(kind) if kind is not None else None
    containers = {cst.List: "list", cst.Dict: "dict", cst.Tuple: "tuple", cst.Set: "set"}
    kind = containers.get(type(node))
    return StaticValue(kind) if kind is not None else None


def expected_type(annotation: str) -> Expected | None:
    """What a field annotation accepts, if castlm can read it alone; None otherwise."""
    try:
        tree = ast.parse(annotation, mode="eval").body
    except SyntaxError:
        return None
    return _expected(tree)


def _expected(node: ast.expr) -> Expected | None:
    if isinstance(node, ast.Constant) and node.value is None:
        return Expected(frozenset({"None"}))
    if isinstance(node, ast.Name):
        if node.id in _SCALARS:
            return Expected(frozenset({node.id}))
        return Expected(frozenset({_CONTAINERS[node.id]})) if node.id in _CONTAINERS else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _union([node.left, node.right])
    if isinstance(node, ast.Subscript):
        return _subscripted(_last_name(node.value), node.slice)
    return None


def _subscripted(name: str | None, inner: ast.expr) -> Expected | None:
    if name in _CONTAINERS:
        return Expected(frozenset({_CONTAINERS[name]}))
    if name == "Optional":
        return _union([inner, ast.Constant(None)])
    if name == "Union":
        return _union(inner.elts if isinstance(inner, ast.Tuple) else [inner])
    if name == "Literal":
        items = inner.elts if isinstance(inner, ast.Tuple) else [inner]
        if not all(isinstance(i, ast.Constant) for i in items):
            return None
        values = tuple(i.value for i in items if isinstance(i, ast.Constant))
        return Expected(frozenset(), values)
    return None


def _union(members: list[ast.expr]) -> Expected | None:
    parts = [_expected(m) for m in members]
    if any(p is None for p in parts):
        return None
    kinds = frozenset(k for p in parts if p is not None for k in p.kinds)
    literals = tuple(v for p in parts if p is not None for v in p.literals)
    return Expected(kinds, literals)


def _last_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else None
