"""Tracks what ``forward``'s local variables hold while a visitor walks the body.

BindingTracker is a base visitor: it updates a Scope at every assignment, loop
target and branch, and answers "which predictors does this expression call or
evaluate to" at the current point of the walk. Subclasses add what they record;
they must call ``super()`` from ``visit_Call``.
"""

from __future__ import annotations

import libcst as cst
from castlm.compiler.analyze.dataflow import Binding, Scope, expression_sources
from castlm.compiler.analyze.references import PredictorTable, iterated_pattern, member_pattern
from castlm.compiler.analyze.toplevel import target_names
from castlm.compiler.ir import DataSource


def unawaited(node: cst.BaseExpression) -> cst.BaseExpression:
    return node.expression if isinstance(node, cst.Await) else node


class BindingTracker(cst.CSTVisitor):
    """Keeps ``self.scope`` current; bindings change when a statement has been visited."""

    def __init__(self, self_param: str, params: list[str], table: PredictorTable) -> None:
        self.self_param = self_param
        self.table = table
        self.scope = Scope(params)

    # -- what expressions denote -------------------------------------------------

    def callee_paths(self, func: cst.BaseExpression) -> frozenset[str]:
        """Predictors a called expression may be: ``self.route``, ``hop`` in a loop, ..."""
        if isinstance(func, cst.Attribute) and func.attr.value == "acall":
            # ``await self.route.acall(...)`` is the async form of ``self.route(...)``.
            inner = self.callee_paths(func.value)
            if inner:
                return inner
        pattern = member_pattern(func, self.self_param)
        if pattern is not None:
            return self.table.matching(pattern)
        if isinstance(func, cst.Name):
            binding = self.scope.get(func.value)
            return binding.callables if binding is not None else frozenset()
        return frozenset()

    def results_of(self, node: cst.BaseExpression) -> frozenset[str]:
        """Predictors whose result ``node`` may evaluate to."""
        node = unawaited(node)
        if isinstance(node, cst.Call):
            return self.callee_paths(node.func)
        if isinstance(node, cst.Name):
            binding = self.scope.get(node.value)
            return binding.results if binding is not None else frozenset()
        return frozenset()

    def pure_results(self, node: cst.BaseExpression) -> frozenset[str]:
        """Like results_of, but empty when a variable may also hold other values."""
        if isinstance(node, cst.Name):
            binding = self.scope.get(node.value)
            return binding.results if binding is not None and not binding.opaque else frozenset()
        return self.results_of(node)

    def sources(self, node: cst.BaseExpression) -> frozenset[DataSource]:
        return expression_sources(node, self.scope, self.results_of)

    def _binding_for(self, value: cst.BaseExpression) -> Binding:
        results = self.results_of(value)
        if results and not isinstance(unawaited(value), cst.Name):
            return Binding(results=results)
        pattern = member_pattern(value, self.self_param)
        callables = self.table.matching(pattern) if pattern is not None else frozenset()
        if callables:
            return Binding(callables=callables)
        if isinstance(value, cst.Name) and (binding := self.scope.get(value.value)):
            return binding
        return Binding(sources=self.sources(value), opaque=True)

    def _bind_targets(self, target: cst.BaseExpression, binding: Binding) -> None:
        if isinstance(target, cst.Name):
            self.scope.bind(target.value, binding)
            return
        # Unpacking: each name gets some part of the value, which is not tracked.
        loose = Binding(sources=binding.sources, opaque=True)
        for name in target_names(target):
            self.scope.bind(name, loose)

    # -- branches: assignments inside them add to a binding instead of replacing it ----

    def _enter_branch(self) -> None:
        self.scope.branch_depth += 1

    def _leave_branch(self) -> None:
        self.scope.branch_depth -= 1

    def visit_If(self, node: cst.If) -> None:
        self._enter_branch()

    def leave_If(self, original_node: cst.If) -> None:
        self._leave_branch()

    def visit_While(self, node: cst.While) -> None:
        self._enter_branch()

    def leave_While(self, original_node: cst.While) -> None:
        self._leave_branch()

    def visit_Try(self, node: cst.Try) -> None:
        self._enter_branch()

    def leave_Try(self, original_node: cst.Try) -> None:
        self._leave_branch()

    def visit_Match(self, node: cst.Match) -> None:
        self._enter_branch()

    def leave_Match(self, original_node: cst.Match) -> None:
        self._leave_branch()

    def visit_For(self, node: cst.For) -> None:
        self._bind_loop_target(node.target, node.iter)
        self._enter_branch()

    def leave_For(self, original_node: cst.For) -> None:
        self._leave_branch()

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._bind_loop_target(node.target, node.iter)

    def _bind_loop_target(self, target: cst.BaseExpression, iterable: cst.BaseExpression) -> None:
        pattern = iterated_pattern(iterable, self.self_param)
        elements = self.table.matching(pattern) if pattern is not None else frozenset()
        if elements:
            self._bind_targets(target, Binding(callables=elements))
        else:
            self._bind_targets(target, Binding(sources=self.sources(iterable), opaque=True))

    # -- assignments (bound on leave: the value is evaluated before the target) -------

    def leave_Assign(self, original_node: cst.Assign) -> None:
        binding = self._binding_for(original_node.value)
        for target in original_node.targets:
            self._bind_targets(target.target, binding)

    def leave_AnnAssign(self, original_node: cst.AnnAssign) -> None:
        if original_node.value is not None:
            self._bind_targets(original_node.target, self._binding_for(original_node.value))

    def leave_AugAssign(self, original_node: cst.AugAssign) -> None:
        target = original_node.target
        if isinstance(target, cst.Name):
            previous = self.scope.get(target.value) or Binding()
            added = self.sources(original_node.value)
            self.scope.bind(target.value, Binding(sources=previous.sources | added, opaque=True))

    def leave_NamedExpr(self, original_node: cst.NamedExpr) -> None:
        self._bind_targets(original_node.target, self._binding_for(original_node.value))

    def visit_Call(self, node: cst.Call) -> None:
        """``xs.append(r.answer)``: a method call may store its arguments in the object."""
        func = node.func
        if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)):
            return
        binding = self.scope.get(func.value.value)
        # Only plain local values; predictor results and predictors are not containers.
        if binding is None or not binding.opaque:
            return
        added = frozenset(s for arg in node.args for s in self.sources(arg.value))
        if added:
            self.scope.add_sources(func.value.value, added)
