"""Finds the predictors and submodules a Module's ``__init__`` assigns to ``self``.

Naming follows what the optimizer sees: ``self.route = Predict(...)`` is "route",
``self.hops = [Predict(H) for _ in range(3)]`` is "hops.0" .. "hops.2", a list
literal is numbered the same way, ``self.experts = {"a": Predict(A)}`` is
"experts.a", and a submodule's predictors are prefixed with its attribute name.
A wrapper (``self.best = cl.BestOfN(cl.Predict(QA), ...)``) holds the wrapped module as
"best.module", as the runtime names it.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst
from castlm.compiler.analyze.imports import Aliases
from castlm.compiler.analyze.literals import string_value
from castlm.compiler.analyze.predictors import (
    WRAPPED_NAME,
    PredictorConstructor,
    predictor_constructor,
    wrapper_constructor,
)


@dataclass(frozen=True)
class PredictorMember:
    path: str
    node: cst.BaseExpression
    constructor: PredictorConstructor


@dataclass(frozen=True)
class SubmoduleMember:
    """An instance of a Module class defined in the same file."""

    path: str
    node: cst.BaseExpression
    class_name: str


@dataclass(frozen=True)
class WrapperMember:
    """A castlm wrapper module (BestOfN, Refine, Parallel) and what it wraps, when that is
    a predictor or module constructed in place (a reference to ``self.x`` is named there)."""

    path: str
    node: cst.BaseExpression
    kind: str
    inner: PredictorMember | SubmoduleMember | WrapperMember | None


# One ``self.<path>`` element of a module.
Member = PredictorMember | SubmoduleMember | WrapperMember


def find_method(node: cst.ClassDef, name: str) -> cst.FunctionDef | None:
    """A method defined directly in the class body."""
    body = node.body.body if isinstance(node.body, cst.IndentedBlock) else ()
    for statement in body:
        if isinstance(statement, cst.FunctionDef) and statement.name.value == name:
            return statement
    return None


def self_name(method: cst.FunctionDef) -> str | None:
    params = method.params.posonly_params or method.params.params
    return params[0].name.value if params else None


def _range_count(comprehension: cst.ListComp) -> int | None:
    """N for ``[... for _ in range(N)]`` with an integer literal N, else None."""
    loop = comprehension.for_in
    if loop.inner_for_in is not None or loop.ifs:
        return None
    call = loop.iter
    if not (
        isinstance(call, cst.Call)
        and isinstance(call.func, cst.Name)
        and call.func.value == "range"
        and len(call.args) == 1
        and isinstance(call.args[0].value, cst.Integer)
    ):
        return None
    count = call.args[0].value.evaluated_value
    return count if isinstance(count, int) else None


def expand_elements(path: str, value: cst.BaseExpression) -> list[tuple[str, cst.BaseExpression]]:
    """Name the elements of a (possibly nested) container assigned to ``self.<path>``."""
    if isinstance(value, cst.ListComp):
        count = _range_count(value)
        if count is None:
            return []
        return [e for i in range(count) for e in expand_elements(f"{path}.{i}", value.elt)]
    if isinstance(value, cst.List | cst.Tuple):
        return [
            element
            for i, item in enumerate(value.elements)
            if isinstance(item, cst.Element)
            for element in expand_elements(f"{path}.{i}", item.value)
        ]
    if isinstance(value, cst.Dict):
        return [
            element
            for item in value.elements
            if isinstance(item, cst.DictElement) and (key := string_value(item.key)) is not None
            for element in expand_elements(f"{path}.{key}", item.value)
        ]
    return [(path, value)]


class InitCollector(cst.CSTVisitor):
    """Collects ``self.x = ...`` members from one ``__init__`` body, in order."""

    def __init__(self, self_param: str, aliases: Aliases, module_classes: set[str]) -> None:
        self._self = self_param
        self._aliases = aliases
        self._module_classes = module_classes
        self.members: dict[str, Member] = {}

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        # Nested helper functions do not run as part of __init__ itself.
        return False

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._assign(target.target, node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._assign(node.target, node.value)

    def _assign(self, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        if not (
            isinstance(target, cst.Attribute)
            and isinstance(target.value, cst.Name)
            and target.value.value == self._self
        ):
            return
        attribute = target.attr.value
        # Reassigning an attribute replaces whatever it held before.
        for path in [p for p in self.members if p == attribute or p.startswith(f"{attribute}.")]:
            del self.members[path]
        for path, element in expand_elements(attribute, value):
            member = self._member(path, element)
            if member is not None:
                self.members[path] = member

    def _member(self, path: str, element: cst.BaseExpression) -> Member | None:
        constructor = predictor_constructor(element, self._aliases)
        if constructor is not None:
            return PredictorMember(path, element, constructor)
        wrapped = wrapper_constructor(element, self._aliases)
        if wrapped is not None:
            kind, inner = wrapped
            found = None if inner is None else self._member(f"{path}.{WRAPPED_NAME}", inner)
            return WrapperMember(path, element, kind, found)
        if (
            isinstance(element, cst.Call)
            and isinstance(element.func, cst.Name)
            and element.func.value in self._module_classes
        ):
            return SubmoduleMember(path, element, element.func.value)
        return None
