"""Collects the fields a signature class body declares, with per-field checks.

A field is ``name: T = InputField(...)`` or ``name: T = OutputField(...)``. Checks
here are local to one declaration: missing marker (CL103), duplicates (CL104),
reserved names (CL105), the type (CL106/CL107), a marker without annotation (CL108)
and the marker's arguments (CL109).
"""

from __future__ import annotations

import libcst as cst
from castlm.compiler.analyze.context import Reporter
from castlm.compiler.analyze.imports import Aliases
from castlm.compiler.analyze.literals import string_value
from castlm.compiler.analyze.markers import check_marker_arguments, marker_role
from castlm.compiler.analyze.reserved import reserved_reason
from castlm.compiler.analyze.typecheck import AnnotationChecker
from castlm.compiler.ir import FieldIR, FieldRole


def _is_class_var(annotation: cst.BaseExpression, aliases: Aliases) -> bool:
    head = annotation.value if isinstance(annotation, cst.Subscript) else annotation
    return aliases.qualify(head) in {"typing.ClassVar", "typing_extensions.ClassVar"}


class FieldCollector(cst.CSTVisitor):
    """Visits one signature class body (not nested classes or methods)."""

    def __init__(
        self,
        class_name: str,
        aliases: Aliases,
        checker: AnnotationChecker,
        reporter: Reporter,
    ) -> None:
        self._class_name = class_name
        self._aliases = aliases
        self._checker = checker
        self._reporter = reporter
        self.fields: list[FieldIR] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        target = node.target
        if not isinstance(target, cst.Name) or _is_class_var(
            node.annotation.annotation, self._aliases
        ):
            return
        role = marker_role(node.value, self._aliases)
        if role is None or not isinstance(node.value, cst.Call):
            self._reporter.report(
                target,
                "CL103",
                f"field '{target.value}' of signature '{self._class_name}' "
                "has no InputField() or OutputField()",
                f"write '{target.value}: ... = InputField()' or '= OutputField()'",
            )
            return
        self._add_field(target, role, node.annotation.annotation, node.value)

    def visit_Assign(self, node: cst.Assign) -> None:
        if marker_role(node.value, self._aliases) is None:
            return
        for target in node.targets:
            if isinstance(target.target, cst.Name):
                name = target.target.value
                self._reporter.report(
                    target.target,
                    "CL108",
                    f"field '{name}' of signature '{self._class_name}' has no type annotation",
                    f"write '{name}: str = ...' with the type the field holds",
                )

    def _add_field(
        self, target: cst.Name, role: FieldRole, annotation: cst.BaseExpression, marker: cst.Call
    ) -> None:
        name = target.value
        self._checker.check(annotation, name)
        if role == "output":
            self._check_no_image(annotation, name)
        check_marker_arguments(marker, role, self._reporter)
        if not self._check_name(target):
            return
        keywords = {arg.keyword.value: arg.value for arg in marker.args if arg.keyword is not None}
        locator = self._reporter.locator
        default = keywords.get("default")
        self.fields.append(
            FieldIR(
                name=name,
                role=role,
                annotation=locator.code(annotation),
                desc=string_value(keywords["desc"]) if "desc" in keywords else None,
                has_default=default is not None,
                location=locator.location(target),
                declared_in=self._class_name,
                default=None if default is None else locator.code(default),
                constraints=tuple(
                    (key, locator.code(value))
                    for key, value in keywords.items()
                    if key not in {"desc", "default"}
                ),
            )
        )

    def _check_no_image(self, annotation: cst.BaseExpression, name: str) -> None:
        """An Image output: models reply with text (the runtime refuses it at import)."""
        finder = _ImageFinder(self._aliases)
        annotation.visit(finder)
        if finder.found is not None:
            self._reporter.report(
                finder.found,
                "CL106",
                f"unsupported type '{self._reporter.locator.code(finder.found)}' for output "
                f"field '{name}'",
                "Image fields are inputs only, since models reply with text; use InputField()",
            )

    def _check_name(self, target: cst.Name) -> bool:
        """Report reserved or duplicate names; True if the field should be kept."""
        name = target.value
        reason = reserved_reason(name)
        if reason is not None:
            # Kept as a field: dropping it would add misleading follow-on errors (no input
            # field, unknown keyword at every call) to the one mistake made here.
            self._reporter.report(target, "CL105", f"field name '{name}' is reserved", reason)
            return True
        first = next((f for f in self.fields if f.name == name), None)
        if first is not None:
            self._reporter.report(
                target,
                "CL104",
                f"duplicate field '{name}' in signature '{self._class_name}'",
                f"first declared on line {first.location.line}",
            )
            return False
        return True


class _ImageFinder(cst.CSTVisitor):
    """Finds the first ``castlm.Image`` (however imported) in an annotation."""

    def __init__(self, aliases: Aliases) -> None:
        self._aliases = aliases
        self.found: cst.BaseExpression | None = None

    def visit_Name(self, node: cst.Name) -> None:
        self._see(node)

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        self._see(node)
        return False  # ``cl.Image``'s parts are not images of their own

    def _see(self, node: cst.Name | cst.Attribute) -> None:
        if self.found is None and self._aliases.castlm_name(node) == "Image":
            self.found = node
