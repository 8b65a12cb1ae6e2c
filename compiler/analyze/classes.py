"""Classifies the file's classes: signature, module, enum, pydantic model, and so on.

Classification follows base classes through the imports and through other classes of
the same file, so ``class Answer(Triage)`` is a signature when ``Triage`` is one.
"""

from __future__ import annotations

import builtins

import libcst as cst
from castlm.compiler.analyze.context import Locator
from castlm.compiler.analyze.imports import Aliases
from castlm.compiler.analyze.markers import marker_role
from castlm.compiler.ir import ClassIR, ClassKind

_QUALIFIED_KINDS: dict[str, ClassKind] = {
    "enum.Enum": "enum",
    "enum.IntEnum": "enum",
    "enum.StrEnum": "enum",
    "enum.Flag": "enum",
    "enum.IntFlag": "enum",
    "pydantic.BaseModel": "model",
    "pydantic.main.BaseModel": "model",
    "typing.TypedDict": "data",
    "typing.NamedTuple": "data",
    "typing_extensions.TypedDict": "data",
    "typing_extensions.NamedTuple": "data",
}
_CASTLM_KINDS: dict[str, ClassKind] = {"Signature": "signature", "Module": "module"}
_DATACLASS_DECORATORS = frozenset({"dataclasses.dataclass", "pydantic.dataclasses.dataclass"})
# Bases that say nothing about what a class is.
_NEUTRAL_BASES = frozenset({"object", "Generic", "typing.Generic", "abc.ABC", "ABC"})
# When bases disagree, the first kind in this order wins.
_PRECEDENCE: tuple[ClassKind, ...] = ("signature", "module", "enum", "model", "data", "external")


def base_expressions(node: cst.ClassDef) -> list[cst.BaseExpression]:
    """Positional bases only: ``metaclass=`` and friends are not bases."""
    return [arg.value for arg in node.bases if arg.keyword is None]


def _unsubscripted(node: cst.BaseExpression) -> cst.BaseExpression:
    # ``BaseModel[T]``/``Generic[T]``: the kind is the subscripted class's.
    return node.value if isinstance(node, cst.Subscript) else node


class ClassClassifier:
    """Memoized classification of the classes defined at module level."""

    def __init__(self, classes: dict[str, cst.ClassDef], aliases: Aliases) -> None:
        self._classes = classes
        self._aliases = aliases
        self._kinds: dict[str, ClassKind] = {}

    def kind(self, name: str) -> ClassKind:
        if name not in self._kinds:
            # Provisional answer breaks cycles such as ``class A(B)`` / ``class B(A)``.
            self._kinds[name] = "plain"
            self._kinds[name] = self._classify(self._classes[name])
        return self._kinds[name]

    def base_kind(self, base: cst.BaseExpression) -> ClassKind | None:
        """What a base expression makes its subclass; None for neutral bases."""
        base = _unsubscripted(base)
        castlm = self._aliases.castlm_name(base)
        if castlm is not None:
            return _CASTLM_KINDS.get(castlm, "external")
        qualified = self._aliases.qualify(base)
        if qualified is not None:
            if qualified in _NEUTRAL_BASES:
                return None
            return _QUALIFIED_KINDS.get(qualified, "external")
        if isinstance(base, cst.Name) and base.value in self._classes:
            return self.kind(base.value)
        if isinstance(base, cst.Name) and (
            base.value in _NEUTRAL_BASES or hasattr(builtins, base.value)
        ):
            # ``class Tag(str)``: pydantic cannot validate builtin subclasses either.
            return None
        return "external"

    def _classify(self, node: cst.ClassDef) -> ClassKind:
        kinds = {self.base_kind(base) for base in base_expressions(node)}
        for kind in _PRECEDENCE:
            if kind in kinds:
                # A class declaring fields on a base from elsewhere is a signature whose
                # inherited fields castlm cannot see.
                if kind == "external" and self._declares_fields(node):
                    return "signature"
                return kind
        if self._is_dataclass(node):
            return "data"
        return "plain"

    def _declares_fields(self, node: cst.ClassDef) -> bool:
        body = node.body.body if isinstance(node.body, cst.IndentedBlock) else ()
        return any(
            isinstance(statement, cst.SimpleStatementLine)
            and any(
                isinstance(small, cst.AnnAssign | cst.Assign)
                and marker_role(small.value, self._aliases) is not None
                for small in statement.body
            )
            for statement in body
        )

    def _is_dataclass(self, node: cst.ClassDef) -> bool:
        for decorator in node.decorators:
            target = decorator.decorator
            target = target.func if isinstance(target, cst.Call) else target
            if self._aliases.qualify(target) in _DATACLASS_DECORATORS:
                return True
        return False

    def class_irs(self, locator: Locator) -> list[ClassIR]:
        return [
            ClassIR(
                name=name,
                kind=self.kind(name),
                bases=tuple(locator.code(base) for base in base_expressions(node)),
                location=locator.location(node.name),
            )
            for name, node in self._classes.items()
        ]
