"""Checks that a field's annotation is a type castlm can ask an LM for and validate.

The rules mirror what the runtime accepts when a Signature class is created
(``castlm.base._types.unsupported_reason``), so problems surface at ``castlm check``
instead of at import time. Supported: str, int, float, bool, datetime.date and
datetime.datetime, Literal[...] of str/int/bool values, Enum and pydantic model
classes defined or imported in the file, list/set/frozenset/tuple (and their
typing aliases) with type arguments, dict with str keys, Optional/Union/``X | None``
and Annotated.
What castlm can see is wrong (Any, object, Callable, Sequence, a function, a
dataclass, a Module) is an error (CL106); a bare name castlm cannot see at all is
only a warning (CL107), since it may come from a star import.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Literal

import libcst as cst
from castlm.compiler.analyze.classes import ClassClassifier
from castlm.compiler.analyze.context import Reporter
from castlm.compiler.analyze.imports import Aliases
from castlm.compiler.ir import ToplevelKind

_SCALARS = frozenset({"str", "int", "float", "bool"})
_BUILTIN_COLLECTIONS = frozenset({"list", "set", "frozenset", "tuple"})
_TYPING_COLLECTIONS = frozenset({"List", "Set", "FrozenSet", "Tuple"})
_DATETIME_TYPES = frozenset({"datetime", "date"})
# Abstract collection types the runtime cannot build a value for, with what to use instead.
_ABSTRACT_COLLECTIONS = {
    "Sequence": "list",
    "MutableSequence": "list",
    "Iterable": "list",
    "Collection": "list",
    "AbstractSet": "set",
    "Mapping": "dict",
    "MutableMapping": "dict",
}
_TYPING_MODULES = frozenset({"typing", "typing_extensions", "collections.abc"})
# "external" classes have a base castlm cannot see, so they are given the benefit of the doubt.
_OK_LOCAL_KINDS = frozenset({"signature", "enum", "model", "external"})
_SUPPORTED_HINT = (
    "use str, int, float, bool, Literal[...], an Enum or pydantic model, "
    "or list/dict/tuple/set/Optional of those"
)

# What a type name means for checking: a complete type ("leaf"), a generic whose
# arguments are checked ("collection", "mapping", "annotated"), or a problem.
Role = Literal[
    "leaf", "collection", "mapping", "literal", "annotated", "none", "unsupported", "unknown"
]


@dataclass(frozen=True)
class _Verdict:
    role: Role
    reason: str | None = None
    # Bare ``list``/``dict``: the runtime rejects builtin containers without type arguments.
    needs_arguments: bool = False


class AnnotationChecker:
    """Reports CL106/CL107 for one field annotation at a time."""

    def __init__(
        self,
        aliases: Aliases,
        classifier: ClassClassifier,
        toplevel: dict[str, ToplevelKind],
        reporter: Reporter,
    ) -> None:
        self._aliases = aliases
        self._classifier = classifier
        self._toplevel = toplevel
        self._reporter = reporter

    def check(self, annotation: cst.BaseExpression, field: str) -> None:
        self._check(annotation, field, anchor=None, top=True)

    def _check(
        self, node: cst.BaseExpression, field: str, anchor: cst.CSTNode | None, top: bool
    ) -> None:
        # ``anchor`` is the string holding a forward reference: nodes parsed out of it
        # have no source position, so problems inside it are reported at the string.
        if isinstance(node, cst.Subscript):
            self._check_subscript(node, field, anchor)
        elif isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.BitOr):
            self._check(node.left, field, anchor, top=False)
            self._check(node.right, field, anchor, top=False)
        elif isinstance(node, cst.Name | cst.Attribute):
            self._check_leaf(node, field, anchor, top)
        elif isinstance(node, cst.SimpleString | cst.ConcatenatedString):
            self._check_forward_reference(node, field, anchor, top)
        else:
            self._unsupported(node, field, anchor, None)

    def _check_forward_reference(
        self,
        node: cst.SimpleString | cst.ConcatenatedString,
        field: str,
        anchor: cst.CSTNode | None,
        top: bool,
    ) -> None:
        value = node.evaluated_value
        try:
            parsed = cst.parse_expression(value) if isinstance(value, str) else None
        except cst.ParserSyntaxError:
            parsed = None
        if parsed is None:
            self._unsupported(node, field, anchor, "the string is not a type expression")
        else:
            self._check(parsed, field, anchor or node, top)

    def _check_leaf(
        self, node: cst.Name | cst.Attribute, field: str, anchor: cst.CSTNode | None, top: bool
    ) -> None:
        verdict = self._verdict(node)
        if verdict.role == "none" and top:
            self._unsupported(node, field, anchor, "a field cannot only hold None")
        elif verdict.needs_arguments:
            name = _code(node)
            self._unsupported(node, field, anchor, f"say what it holds, e.g. {name}[str]")
        elif verdict.role == "unsupported":
            self._unsupported(node, field, anchor, verdict.reason)
        elif verdict.role == "unknown":
            self._unknown(node, field, anchor)

    def _check_subscript(self, node: cst.Subscript, field: str, anchor: cst.CSTNode | None) -> None:
        verdict = self._verdict(node.value)
        if verdict.role == "unsupported":
            self._unsupported(node, field, anchor, verdict.reason)
            return
        if verdict.role == "unknown":
            self._unknown(node.value, field, anchor)
            return
        if verdict.role == "literal":
            self._check_literal_values(node, field, anchor)
            return
        arguments = _subscript_arguments(node)
        if verdict.role == "annotated":
            arguments = arguments[:1]
        if verdict.role == "mapping" and arguments and not self._is_str_key(arguments[0]):
            self._unsupported(arguments[0], field, anchor, "dict keys must be str")
            arguments = arguments[1:]
        for argument in arguments:
            self._check(argument, field, anchor, top=False)

    def _check_literal_values(
        self, node: cst.Subscript, field: str, anchor: cst.CSTNode | None
    ) -> None:
        for value in _subscript_arguments(node):
            if not _is_literal_value(value):
                reason = "Literal values must be str, int or bool"
                self._unsupported(value, field, anchor, reason)

    def _is_str_key(self, node: cst.BaseExpression) -> bool:
        qualified = self._aliases.qualify(node)
        if qualified is not None:
            return qualified in {"typing.Text", "builtins.str"}
        return (
            isinstance(node, cst.Name) and node.value == "str" and node.value not in self._toplevel
        )

    def _verdict(self, node: cst.BaseExpression) -> _Verdict:
        qualified = self._aliases.qualify(node)
        if qualified is not None:
            return _qualified_verdict(qualified)
        if isinstance(node, cst.Name):
            return self._name_verdict(node.value)
        return _Verdict("unknown")

    def _name_verdict(self, name: str) -> _Verdict:
        kind = self._toplevel.get(name)
        if kind == "class":
            return self._class_verdict(name)
        if kind == "function":
            return _Verdict("unsupported", f"'{name}' is a function, not a type")
        if kind == "assignment":
            # Most likely a type alias; its value is not followed.
            return _Verdict("leaf")
        return _builtin_verdict(name)

    def _class_verdict(self, name: str) -> _Verdict:
        kind = self._classifier.kind(name)
        if kind in _OK_LOCAL_KINDS:
            return _Verdict("leaf")
        if kind == "module":
            return _Verdict("unsupported", f"'{name}' is a Module, not a data type")
        return _Verdict("unsupported", f"make '{name}' a pydantic BaseModel or an Enum subclass")

    def _unsupported(
        self, node: cst.CSTNode, field: str, anchor: cst.CSTNode | None, reason: str | None
    ) -> None:
        self._reporter.report(
            anchor or node,
            "CL106",
            f"unsupported type '{_code(node)}' for field '{field}'",
            reason or _SUPPORTED_HINT,
        )

    def _unknown(self, node: cst.CSTNode, field: str, anchor: cst.CSTNode | None) -> None:
        self._reporter.report(
            anchor or node,
            "CL107",
            f"cannot check type '{_code(node)}' of field '{field}'",
            "it is not defined or imported in this file",
            severity="warning",
        )


def _qualified_verdict(qualified: str) -> _Verdict:
    module, _, name = qualified.rpartition(".")
    if module in _TYPING_MODULES:
        return _typing_verdict(name)
    if module == "datetime":
        if name in _DATETIME_TYPES:
            return _Verdict("leaf")
        return _Verdict("unsupported", f"use datetime.date or datetime.datetime, not {name}")
    # Imported from elsewhere: trust it is a model, enum or other data type.
    return _Verdict("leaf")


def _typing_verdict(name: str) -> _Verdict:
    if name in _TYPING_COLLECTIONS:
        return _Verdict("collection")
    if name == "Dict":
        return _Verdict("mapping")
    if name in {"Optional", "Union"}:
        return _Verdict("collection")
    if name == "Literal":
        return _Verdict("literal")
    if name == "Annotated":
        return _Verdict("annotated")
    if name == "Text":
        return _Verdict("leaf")
    if name in _ABSTRACT_COLLECTIONS:
        return _Verdict("unsupported", f"use {_ABSTRACT_COLLECTIONS[name]} instead of {name}")
    return _Verdict("unsupported", f"castlm cannot ask an LM for a value of type {name}")


def _is_literal_value(node: cst.BaseExpression) -> bool:
    """str, int or bool literals, and names like ``Color.RED`` whose value castlm cannot see."""
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        node = node.expression
    if isinstance(node, cst.Name):
        return node.value in {"True", "False"}
    return isinstance(node, cst.Integer | cst.SimpleString | cst.ConcatenatedString | cst.Attribute)


def _builtin_verdict(name: str) -> _Verdict:
    if name in _SCALARS:
        return _Verdict("leaf")
    if name in _BUILTIN_COLLECTIONS:
        return _Verdict("collection", needs_arguments=True)
    if name == "dict":
        return _Verdict("mapping", needs_arguments=True)
    if name == "None":
        return _Verdict("none")
    if hasattr(builtins, name):
        return _Verdict("unsupported", f"castlm cannot ask an LM for a value of type {name}")
    return _Verdict("unknown")


def _subscript_arguments(node: cst.Subscript) -> list[cst.BaseExpression]:
    """The type arguments of ``X[a, b, ...]``, skipping ``...`` and slices."""
    arguments: list[cst.BaseExpression] = []
    for element in node.slice:
        if isinstance(element.slice, cst.Index) and not isinstance(
            element.slice.value, cst.Ellipsis
        ):
            arguments.append(element.slice.value)
    return arguments


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)
