"""Analyzes a Module's ``forward``: predictor calls, data flow and result reads.

One in-order walk of the body (on top of BindingTracker's variable tracking)
records, for every predictor call, which parameters and predictor outputs feed
each keyword argument; which result attributes are read; and what flows into
``return``. Calls and reads are checked against the signatures on the way.
"""

from __future__ import annotations

from collections.abc import Mapping

import libcst as cst
from castlm.compiler.analyze.callchecks import CallChecker
from castlm.compiler.analyze.context import Reporter
from castlm.compiler.analyze.imports import Aliases
from castlm.compiler.analyze.inline import InlinePredictorFinder
from castlm.compiler.analyze.members import self_name
from castlm.compiler.analyze.modulecalls import ModuleTarget, called_module, check_module_call
from castlm.compiler.analyze.params import method_params
from castlm.compiler.analyze.references import PredictorTable
from castlm.compiler.analyze.toplevel import target_names
from castlm.compiler.analyze.tracking import BindingTracker, unawaited
from castlm.compiler.ir import (
    CallIR,
    DataSource,
    FieldReadIR,
    ForwardIR,
    InputFlowIR,
    ParamIR,
    PredictorIR,
)

_SCALARS = frozenset({"str", "int", "float", "bool"})


def _sorted_sources(sources: frozenset[DataSource]) -> tuple[DataSource, ...]:
    return tuple(sorted(sources, key=lambda s: (s.kind, s.name, s.field or "")))


class ForwardVisitor(BindingTracker):
    """Records and checks predictor calls, result reads and returns."""

    def __init__(
        self,
        self_param: str,
        params: list[str],
        table: PredictorTable,
        checker: CallChecker,
        reporter: Reporter,
        typed_params: Mapping[str, str] | None = None,
        modules: Mapping[str, ModuleTarget] | None = None,
    ) -> None:
        super().__init__(self_param, params, table)
        self._checker = checker
        self._reporter = reporter
        self._typed_params = typed_params or {}
        self._modules = modules or {}
        # Predictor call -> the variable its result is assigned to.
        self._result_vars: dict[cst.Call, str] = {}
        self.calls: list[CallIR] = []
        self.reads: list[FieldReadIR] = []
        self.returns: set[DataSource] = set()

    def visit_Assign(self, node: cst.Assign) -> None:
        value = unawaited(node.value)
        names = [t.target.value for t in node.targets if isinstance(t.target, cst.Name)]
        if isinstance(value, cst.Call) and names:
            self._result_vars[value] = names[0]

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        value = unawaited(node.value) if node.value is not None else None
        if isinstance(value, cst.Call) and isinstance(node.target, cst.Name):
            self._result_vars[value] = node.target.value

    def visit_Call(self, node: cst.Call) -> None:
        super().visit_Call(node)
        callee = self._reporter.locator.code(node.func)
        module = called_module(node.func, self.self_param, self._modules)
        if module is not None:
            check_module_call(node, callee, module, self._reporter)
        checked: set[tuple[str | None, str]] = set()
        for path in sorted(self.callee_paths(node.func)):
            predictor = self.table.get(path)
            if predictor is None:
                continue
            # ``self.hops[i](...)`` calls one of several predictors: check each signature once.
            if (predictor.signature, predictor.kind) not in checked:
                checked.add((predictor.signature, predictor.kind))
                self._checker.check_call(node, callee, predictor, self._typed_params)
            self.calls.append(self._call_ir(node, predictor))

    def _call_ir(self, node: cst.Call, predictor: PredictorIR) -> CallIR:
        keywords = [(arg.keyword.value, arg.value) for arg in node.args if arg.keyword is not None]
        return CallIR(
            predictor=predictor.path,
            keywords=tuple(name for name, _ in keywords),
            result_var=self._result_vars.get(node),
            location=self._reporter.locator.location(node),
            inputs=tuple(
                InputFlowIR(name, _sorted_sources(self.sources(value))) for name, value in keywords
            ),
        )

    def visit_Attribute(self, node: cst.Attribute) -> None:
        paths = self.pure_results(node.value)
        if not paths:
            return
        predictors = [p for p in map(self.table.get, sorted(paths)) if p is not None]
        if self._checker.check_read(node, self._describe(node.value), predictors):
            location = self._reporter.locator.location(node.attr)
            self.reads.extend(FieldReadIR(p.path, node.attr.value, location) for p in predictors)

    def _describe(self, node: cst.BaseExpression) -> str:
        call = unawaited(node)
        if isinstance(call, cst.Call):
            return f"{self._reporter.locator.code(call.func)}(...)"
        return self._reporter.locator.code(node)

    def visit_Return(self, node: cst.Return) -> None:
        if node.value is not None:
            self.returns |= self.sources(node.value)


def analyze_forward(
    function: cst.FunctionDef,
    defined_in: str,
    table: PredictorTable,
    checker: CallChecker,
    aliases: Aliases,
    reporter: Reporter,
    modules: Mapping[str, ModuleTarget] | None = None,
) -> ForwardIR:
    """``modules``: the sub-modules ``forward`` may call, by path (CL209)."""
    locator = reporter.locator
    params = method_params(function, locator)
    owner = self_name(function) or "self"
    visitor = ForwardVisitor(
        owner,
        [p.name for p in params],
        table,
        checker,
        reporter,
        typed_params=_typed_params(function, params),
        modules=modules,
    )
    function.body.visit(visitor)
    function.body.visit(InlinePredictorFinder(aliases, reporter))
    returns = function.returns
    return ForwardIR(
        params=params,
        return_annotation=None if returns is None else locator.code(returns.annotation),
        is_async=function.asynchronous is not None,
        calls=tuple(visitor.calls),
        location=locator.location(function.name),
        reads=tuple(visitor.reads),
        returns=_sorted_sources(frozenset(visitor.returns)),
        defined_in=defined_in,
    )


def _typed_params(function: cst.FunctionDef, params: tuple[ParamIR, ...]) -> dict[str, str]:
    """Parameters annotated with a builtin scalar that the body never rebinds (CL208)."""
    collector = _AssignedNames()
    function.body.visit(collector)
    return {
        p.name: p.annotation
        for p in params
        if p.annotation in _SCALARS and not p.star and p.name not in collector.names
    }


class _AssignedNames(cst.CSTVisitor):
    """Every name a function body binds (assignments, loops, ``with ... as``, walrus, ...)."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self.names.update(target_names(node.target))

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self.names.update(target_names(node.target))

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self.names.update(target_names(node.target))

    def visit_For(self, node: cst.For) -> None:
        self.names.update(target_names(node.target))

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self.names.update(target_names(node.target))

    def visit_AsName(self, node: cst.AsName) -> None:
        self.names.update(target_names(node.name))

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self.names.update(target_names(node.target))

    def visit_Global(self, node: cst.Global) -> None:
        self.names.update(n.name.value for n in node.names)

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        self.names.update(n.name.value for n in node.names)
