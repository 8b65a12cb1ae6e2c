"""What each local variable of ``forward`` may hold, as the analyzer walks it in order.

The model is deliberately small: statements are followed in order, but branches
are not split. An assignment at the top level of ``forward`` replaces a variable's
binding, while one inside an ``if``/loop/``try``/``match`` adds to it, since
either value may reach later code. A variable is "opaque" when it may hold
something the analyzer does not track; attribute checks only run on variables
that surely hold predictor results.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import libcst as cst
from castlm.compiler.ir import DataSource


@dataclass(frozen=True)
class Binding:
    # Paths of the predictors whose result the variable may hold.
    results: frozenset[str] = frozenset()
    # Paths of the predictors the variable may itself be (``for hop in self.hops``).
    callables: frozenset[str] = frozenset()
    # Parameters and predictor outputs the value was computed from.
    sources: frozenset[DataSource] = frozenset()
    opaque: bool = False

    def merge(self, other: Binding) -> Binding:
        return Binding(
            self.results | other.results,
            self.callables | other.callables,
            self.sources | other.sources,
            self.opaque or other.opaque,
        )


def param_binding(name: str) -> Binding:
    return Binding(sources=frozenset({DataSource("param", name, None)}), opaque=True)


class Scope:
    """Variable bindings of one ``forward`` body."""

    def __init__(self, params: list[str]) -> None:
        self._bindings = {name: param_binding(name) for name in params}
        self.branch_depth = 0

    def get(self, name: str) -> Binding | None:
        return self._bindings.get(name)

    def add_sources(self, name: str, sources: frozenset[DataSource]) -> None:
        """Record that a variable's value now also depends on ``sources`` (``xs.append(y)``)."""
        previous = self._bindings.get(name, Binding(opaque=True))
        self._bindings[name] = previous.merge(Binding(sources=sources, opaque=True))

    def bind(self, name: str, binding: Binding) -> None:
        previous = self._bindings.get(name)
        if self.branch_depth and previous is not None:
            binding = previous.merge(binding)
        self._bindings[name] = binding


# Given an expression, the predictor paths whose result it evaluates to (if any).
ResultsOf = Callable[[cst.BaseExpression], frozenset[str]]


class SourceCollector(cst.CSTVisitor):
    """Collects the DataSources an expression's value is computed from."""

    def __init__(self, scope: Scope, results_of: ResultsOf) -> None:
        self._scope = scope
        self._results_of = results_of
        self.sources: set[DataSource] = set()

    def visit_Name(self, node: cst.Name) -> None:
        binding = self._scope.get(node.value)
        if binding is not None:
            self.sources |= binding.sources
            self.sources |= {DataSource("predictor", path, None) for path in binding.results}

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        paths = self._results_of(node.value)
        if not paths:
            return True
        self.sources |= {DataSource("predictor", path, node.attr.value) for path in paths}
        return False

    def visit_Call(self, node: cst.Call) -> bool:
        # A nested predictor call's arguments feed that predictor, not this value.
        paths = self._results_of(node)
        self.sources |= {DataSource("predictor", path, None) for path in paths}
        return not paths

    def visit_Arg(self, node: cst.Arg) -> bool:
        # ``f(key=value)``: the keyword is not a variable read.
        node.value.visit(self)
        return False


def expression_sources(
    node: cst.BaseExpression, scope: Scope, results_of: ResultsOf
) -> frozenset[DataSource]:
    collector = SourceCollector(scope, results_of)
    node.visit(collector)
    return frozenset(collector.sources)
