"""Builds ModuleIR: a Module's predictors (flattened through submodules) and its forward.

Members and forward are inherited from Module base classes in the same file. A
module may define ``aforward`` (run by the runtime's ``acall``) instead of, or as
well as, ``forward``; the IR describes ``forward`` when there is one. A
submodule's predictors appear under its attribute name ("stage.route"); a submodule
whose class is not in this file is not looked into.

A compound module (``self.agent = cl.ReAct(QA, ...)``) contributes the predictors the runtime
names below it ("agent.react", "agent.extract") and, for checking calls of ``self.agent``, an
entry at "agent" that is not a predictor (see ``predictors.is_call_target``); a wrapper
(BestOfN, Refine, Parallel) contributes the wrapped module at "<attr>.module".
"""

from __future__ import annotations

from dataclasses import replace

import libcst as cst
from castlm.compiler.analyze import asyncable
from castlm.compiler.analyze.adapters import check_adapter_argument
from castlm.compiler.analyze.callchecks import CallChecker
from castlm.compiler.analyze.classes import ClassClassifier, base_expressions
from castlm.compiler.analyze.context import Reporter
from castlm.compiler.analyze.forward import analyze_forward
from castlm.compiler.analyze.imports import Aliases
from castlm.compiler.analyze.members import (
    InitCollector,
    Member,
    SubmoduleMember,
    WrapperMember,
    find_method,
    self_name,
)
from castlm.compiler.analyze.modulecalls import ModuleTarget
from castlm.compiler.analyze.params import method_params
from castlm.compiler.analyze.predictors import (
    COMPOUND_KINDS,
    WRAPPER_KINDS,
    SignatureArgumentChecker,
    is_call_target,
)
from castlm.compiler.analyze.references import PredictorTable
from castlm.compiler.analyze.signatures import class_docstring
from castlm.compiler.ir import ForwardIR, ModuleIR, PredictorIR, SubmoduleIR, TwinIR

LocalMember = PredictorIR | SubmoduleIR


class ModuleBuilder:
    def __init__(
        self,
        classes: dict[str, cst.ClassDef],
        aliases: Aliases,
        classifier: ClassClassifier,
        signature_arguments: SignatureArgumentChecker,
        call_checker: CallChecker,
        reporter: Reporter,
        blocking: frozenset[str] = frozenset(),
    ) -> None:
        self._classes = classes
        self._blocking = blocking
        self._aliases = aliases
        self._classifier = classifier
        self._signature_arguments = signature_arguments
        self._call_checker = call_checker
        self._reporter = reporter
        self._module_names = {n for n in classes if classifier.kind(n) == "module"}
        self._own: dict[str, dict[str, LocalMember]] = {}

    def build_all(self) -> list[ModuleIR]:
        return [self.build(name) for name in self._classes if name in self._module_names]

    def build(self, name: str) -> ModuleIR:
        node = self._classes[name]
        entries = tuple(self._flatten_predictors(name, "", frozenset()))
        predictors = tuple(p for p in entries if not is_call_target(p.kind))
        table = PredictorTable(entries)
        submodules = tuple(self._flatten_submodules(name, "", frozenset()))
        targets = self._module_targets(submodules)
        forward = self.method_definition(name, "forward")
        asynchronous = self.method_definition(name, "aforward")
        if asynchronous is not None and forward is not None:
            # Checked for diagnostics; the IR describes ``forward``.
            self._analyze(asynchronous, table, targets)
        chosen = forward or asynchronous
        locator = self._reporter.locator
        return ModuleIR(
            name=name,
            predictors=predictors,
            submodules=submodules,
            forward=None if chosen is None else self._analyze(chosen, table, targets),
            location=locator.location(node.name),
            bases=tuple(locator.code(base) for base in base_expressions(node)),
            docstring=class_docstring(node),
            callables=tuple(p for p in entries if is_call_target(p.kind)),
            twin=self._twin(name),
        )

    def _twin(self, name: str) -> TwinIR | None:
        """The async twin of the forward this class defines, reporting CL401 where unsafe."""
        node = self._classes[name]
        forward = find_method(node, "forward")
        if forward is None or forward.asynchronous or find_method(node, "aforward"):
            return None
        methods = self._methods(name, frozenset())
        found = asyncable.problems(forward, methods)
        for where, why in found:
            self._reporter.report(
                where,
                "CL401",
                f"{name}.forward cannot be made async: {why}; acall runs it in a thread",
                "call predictors directly in forward, or write async def aforward",
                severity="warning",
            )
        return TwinIR(
            awaited_names=tuple(sorted(asyncable.local_names(forward) | self._blocking)),
            methods=tuple(sorted(set(methods) | asyncable.castlm_methods())),
            problems=tuple(why for _, why in found),
        )

    def _methods(self, name: str, seen: frozenset[str]) -> dict[str, cst.FunctionDef]:
        """Methods of the class and its same-file Module bases, the class's own winning."""
        found: dict[str, cst.FunctionDef] = {}
        for base in reversed(self._local_module_bases(name)):
            if base not in seen:
                found.update(self._methods(base, seen | {name}))
        body = self._classes[name].body
        for statement in body.body if isinstance(body, cst.IndentedBlock) else ():
            if isinstance(statement, cst.FunctionDef) and statement.name.value != "forward":
                found[statement.name.value] = statement
        return found

    def _analyze(
        self,
        method: tuple[cst.FunctionDef, str],
        table: PredictorTable,
        targets: dict[str, ModuleTarget],
    ) -> ForwardIR:
        function, defined_in = method
        return analyze_forward(
            function,
            defined_in,
            table,
            self._call_checker,
            self._aliases,
            self._reporter,
            targets,
        )

    def _module_targets(self, submodules: tuple[SubmoduleIR, ...]) -> dict[str, ModuleTarget]:
        """The sub-modules whose calls can be checked: those with a forward in this file."""
        targets: dict[str, ModuleTarget] = {}
        for submodule in submodules:
            if submodule.class_name not in self._classes:
                continue
            found = self.method_definition(submodule.class_name, "forward")
            found = found or self.method_definition(submodule.class_name, "aforward")
            if found is not None:
                params = method_params(found[0], self._reporter.locator)
                targets[submodule.path] = ModuleTarget(submodule.class_name, params)
        return targets

    def _local_module_bases(self, name: str) -> list[str]:
        return [
            base.value
            for base in base_expressions(self._classes[name])
            if isinstance(base, cst.Name) and base.value in self._module_names
        ]

    def members(self, name: str, seen: frozenset[str] = frozenset()) -> dict[str, LocalMember]:
        """Own and inherited members; the first base wins, as in Python's MRO."""
        merged: dict[str, LocalMember] = {}
        for base in reversed(self._local_module_bases(name)):
            if base not in seen:
                merged.update(self.members(base, seen | {name}))
        merged.update(self._own_members(name))
        return merged

    def _own_members(self, name: str) -> dict[str, LocalMember]:
        # Computed once per class so diagnostics about members are reported once.
        if name not in self._own:
            init = find_method(self._classes[name], "__init__")
            owner = self_name(init) if init is not None else None
            collected: dict[str, LocalMember] = {}
            if init is not None and owner is not None:
                collector = InitCollector(owner, self._aliases, self._module_names)
                init.body.visit(collector)
                for member in collector.members.values():
                    collected.update(self._to_ir(member))
            self._own[name] = collected
        return self._own[name]

    def _to_ir(self, member: Member) -> dict[str, LocalMember]:
        """The entries one member contributes, by path (several for a compound module)."""
        location = self._reporter.locator.location(member.node)
        if isinstance(member, SubmoduleMember):
            return {member.path: SubmoduleIR(member.path, member.class_name, location)}
        if isinstance(member, WrapperMember):
            return self._wrapper_ir(member)
        kind = member.constructor.kind
        signature = self._signature_arguments.signature_name(member.constructor)
        check_adapter_argument(member.constructor, self._reporter)
        entries: dict[str, LocalMember] = {
            member.path: PredictorIR(member.path, kind, signature, location)
        }
        for name, part_kind, own in COMPOUND_KINDS.get(kind, ()):
            path = f"{member.path}.{name}"
            entries[path] = PredictorIR(path, part_kind, signature if own else None, location)
        return entries

    def _wrapper_ir(self, member: WrapperMember) -> dict[str, LocalMember]:
        location = self._reporter.locator.location(member.node)
        parts, calls_through = WRAPPER_KINDS[member.kind]
        entries = self._to_ir(member.inner) if member.inner is not None else {}
        inner = entries.get(member.inner.path) if member.inner is not None else None
        if calls_through:  # calling the wrapper is calling what it wraps
            if isinstance(inner, PredictorIR):
                kind = f"{member.kind}:{inner.kind.partition(':')[2] or inner.kind}"
                target = PredictorIR(member.path, kind, inner.signature, location)
            else:
                target = PredictorIR(member.path, member.kind, None, location)
            entries[member.path] = target
        for name, part_kind in parts:
            path = f"{member.path}.{name}"
            entries[path] = PredictorIR(path, part_kind, None, location)
        return entries

    def _flatten_predictors(
        self, name: str, prefix: str, stack: frozenset[str]
    ) -> list[PredictorIR]:
        result: list[PredictorIR] = []
        for member in self.members(name).values():
            path = prefix + member.path
            if isinstance(member, PredictorIR):
                result.append(replace(member, path=path))
            elif member.class_name not in stack | {name}:
                result.extend(
                    self._flatten_predictors(member.class_name, f"{path}.", stack | {name})
                )
        return result

    def _flatten_submodules(
        self, name: str, prefix: str, stack: frozenset[str]
    ) -> list[SubmoduleIR]:
        result: list[SubmoduleIR] = []
        for member in self.members(name).values():
            if isinstance(member, SubmoduleIR):
                path = prefix + member.path
                result.append(replace(member, path=path))
                if member.class_name not in stack | {name}:
                    result.extend(
                        self._flatten_submodules(member.class_name, f"{path}.", stack | {name})
                    )
        return result

    def method_definition(
        self, name: str, method: str, seen: frozenset[str] = frozenset()
    ) -> tuple[cst.FunctionDef, str] | None:
        """The method a class uses and where it is defined, searching Module bases in MRO order."""
        own = find_method(self._classes[name], method)
        if own is not None:
            return own, name
        for base in self._local_module_bases(name):
            if base not in seen:
                found = self.method_definition(base, method, seen | {name})
                if found is not None:
                    return found
        return None
