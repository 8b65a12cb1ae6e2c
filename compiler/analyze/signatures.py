"""Builds SignatureIR for every signature class, resolving inherited fields.

Fields are inherited the way pydantic does it: base fields first (later bases
first, as in the MRO reversed), an override keeps the base field's position.
Whole-signature checks (CL101 no input, CL102 no output) run after inheritance,
and only where the field list is known to be complete. Like the runtime, they
apply to every signature, including ones only used as bases.
"""

from __future__ import annotations

import libcst as cst
from castlm.compiler.analyze.classes import ClassClassifier, base_expressions
from castlm.compiler.analyze.context import Reporter
from castlm.compiler.analyze.fields import FieldCollector
from castlm.compiler.analyze.imports import Aliases
from castlm.compiler.analyze.typecheck import AnnotationChecker
from castlm.compiler.ir import FieldIR, SignatureIR


def class_docstring(node: cst.ClassDef) -> str | None:
    """The class docstring, cleaned like ``inspect.cleandoc`` (which libcst implements)."""
    return node.get_docstring(clean=True)


class SignatureBuilder:
    """Turns signature ClassDefs into SignatureIR, memoizing so bases are built once."""

    def __init__(
        self,
        classes: dict[str, cst.ClassDef],
        aliases: Aliases,
        classifier: ClassClassifier,
        checker: AnnotationChecker,
        reporter: Reporter,
    ) -> None:
        self._classes = classes
        self._aliases = aliases
        self._classifier = classifier
        self._checker = checker
        self._reporter = reporter
        self._built: dict[str, SignatureIR] = {}

    def build_all(self) -> list[SignatureIR]:
        names = [n for n in self._classes if self._classifier.kind(n) == "signature"]
        signatures = [self.build(name) for name in names]
        self._check_field_roles(signatures)
        return signatures

    def build(self, name: str) -> SignatureIR:
        if name not in self._built:
            # Placeholder for inheritance cycles, which Python rejects at runtime anyway.
            node = self._classes[name]
            self._built[name] = self._empty(name, node)
            self._built[name] = self._build(name, node)
        return self._built[name]

    def _empty(self, name: str, node: cst.ClassDef) -> SignatureIR:
        location = self._reporter.locator.location(node.name)
        return SignatureIR(name, None, (), (), location, complete=False)

    def _build(self, name: str, node: cst.ClassDef) -> SignatureIR:
        collector = FieldCollector(name, self._aliases, self._checker, self._reporter)
        node.body.visit(collector)
        fields: dict[str, FieldIR] = {}
        complete = True
        for base in reversed(base_expressions(node)):
            inherited, known = self._base_fields(base)
            complete = complete and known
            fields.update((f.name, f) for f in inherited)
        fields.update((f.name, f) for f in collector.fields)
        locator = self._reporter.locator
        return SignatureIR(
            name=name,
            docstring=class_docstring(node),
            fields=tuple(fields.values()),
            bases=tuple(locator.code(base) for base in base_expressions(node)),
            location=locator.location(node.name),
            complete=complete,
        )

    def _base_fields(self, base: cst.BaseExpression) -> tuple[tuple[FieldIR, ...], bool]:
        """Fields a base contributes, and whether castlm knows them all."""
        if self._aliases.castlm_name(base) == "Signature":
            return (), True
        kind = self._classifier.base_kind(base)
        if isinstance(base, cst.Name) and base.value in self._classes and kind == "signature":
            inherited = self.build(base.value)
            return inherited.fields, inherited.complete
        # Mixins without fields (neutral bases) are fine; anything else is opaque.
        return (), kind is None

    def _check_field_roles(self, signatures: list[SignatureIR]) -> None:
        # The runtime checks every Signature subclass, base classes included.
        for signature in signatures:
            if not signature.complete:
                continue
            node = self._classes[signature.name]
            if not signature.inputs:
                self._reporter.report(
                    node.name,
                    "CL101",
                    f"signature '{signature.name}' has no input field",
                    "add one, e.g. 'question: str = InputField()'",
                )
            if not signature.outputs:
                self._reporter.report(
                    node.name,
                    "CL102",
                    f"signature '{signature.name}' has no output field",
                    "add one, e.g. 'answer: str = OutputField()'",
                )
