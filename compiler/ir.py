"""ProgramIR: what the analyzer learned about a castlm program, for later stages.

Everything here is a frozen dataclass holding plain data (source text, names,
positions), so the optimizer, graph builder and emitter never need libcst or
the user's program at hand. Annotations and defaults are kept as source text
because the emitter re-declares them verbatim in generated code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import libcst as cst
from castlm.compiler.diagnostics import Diagnostic

FieldRole = Literal["input", "output"]
ClassKind = Literal["signature", "module", "enum", "model", "data", "external", "plain"]
ToplevelKind = Literal["class", "function", "assignment"]
ParamStar = Literal["", "*", "**"]


@dataclass(frozen=True)
class SourceLocation:
    """A span in the source file; lines and columns are 1-based, ``end_col`` exclusive."""

    line: int
    col: int
    end_line: int
    end_col: int


@dataclass(frozen=True)
class FieldIR:
    """One signature field, inherited ones included."""

    name: str
    role: FieldRole
    annotation: str
    desc: str | None
    has_default: bool
    location: SourceLocation
    # Name of the signature class whose body declares the field.
    declared_in: str
    default: str | None
    # Remaining keyword arguments of InputField/OutputField (ge=, max_length=, ...), as source.
    constraints: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class SignatureIR:
    name: str
    docstring: str | None
    fields: tuple[FieldIR, ...]
    bases: tuple[str, ...]
    location: SourceLocation
    # False when a base class comes from another file, so the field list may be partial.
    complete: bool

    @property
    def inputs(self) -> tuple[FieldIR, ...]:
        return tuple(f for f in self.fields if f.role == "input")

    @property
    def outputs(self) -> tuple[FieldIR, ...]:
        return tuple(f for f in self.fields if f.role == "output")

    def field(self, name: str) -> FieldIR | None:
        return next((f for f in self.fields if f.name == name), None)


@dataclass(frozen=True)
class PredictorIR:
    # Dotted path as the optimizer names it: "route", "hops.0", "experts.a", "stage.route".
    path: str
    kind: str
    # Source text of the signature argument ("Triage", "sigs.Triage"); None when missing.
    signature: str | None
    location: SourceLocation


@dataclass(frozen=True)
class SubmoduleIR:
    path: str
    class_name: str
    location: SourceLocation


@dataclass(frozen=True)
class ParamIR:
    name: str
    annotation: str | None
    default: str | None
    keyword_only: bool
    star: ParamStar


@dataclass(frozen=True)
class DataSource:
    """Where a value in ``forward`` comes from: a parameter or a predictor result."""

    kind: Literal["param", "predictor"]
    # Parameter name or predictor path.
    name: str
    # Output field read from the predictor result; None for the whole result or a parameter.
    field: str | None


@dataclass(frozen=True)
class InputFlowIR:
    """The sources feeding one keyword argument of a predictor call."""

    field: str
    sources: tuple[DataSource, ...]


@dataclass(frozen=True)
class CallIR:
    predictor: str
    keywords: tuple[str, ...]
    result_var: str | None
    location: SourceLocation
    inputs: tuple[InputFlowIR, ...]


@dataclass(frozen=True)
class FieldReadIR:
    """An attribute read on a predictor result (``r.urgent``), wherever it happens."""

    predictor: str
    field: str
    location: SourceLocation


@dataclass(frozen=True)
class ForwardIR:
    params: tuple[ParamIR, ...]
    return_annotation: str | None
    is_async: bool
    calls: tuple[CallIR, ...]
    location: SourceLocation
    reads: tuple[FieldReadIR, ...]
    returns: tuple[DataSource, ...]
    # The class whose body defines forward (a base module when inherited).
    defined_in: str


@dataclass(frozen=True)
class TwinIR:
    """How ``aforward`` is written from the ``forward`` a module class defines itself.

    ``awaited_names`` are forward's local variables and the same-file blocking functions: calls
    of them go through ``acall``, like calls of ``self.<attribute>`` other than ``methods`` (the
    module's own methods and castlm's). Non-empty ``problems`` (CL401) mean the twin runs
    ``forward`` in a thread instead (see analyze/asyncable.py).
    """

    awaited_names: tuple[str, ...]
    methods: tuple[str, ...]
    problems: tuple[str, ...]


@dataclass(frozen=True)
class ModuleIR:
    name: str
    # Own and inherited predictors, with those of same-file submodules flattened in.
    predictors: tuple[PredictorIR, ...]
    submodules: tuple[SubmoduleIR, ...]
    forward: ForwardIR | None
    location: SourceLocation
    bases: tuple[str, ...]
    docstring: str | None
    # Compound and wrapper modules (``cl.ReAct(QA, ...)``, ``cl.BestOfN(...)``) as called in
    # forward: not predictors themselves (theirs are in ``predictors``), but checked alike.
    callables: tuple[PredictorIR, ...] = ()
    # The async twin the emitter writes; None when the class defines aforward (or no forward).
    twin: TwinIR | None = None

    def predictor(self, path: str) -> PredictorIR | None:
        return next((p for p in self.predictors if p.path == path), None)


@dataclass(frozen=True)
class ImportedName:
    name: str
    alias: str | None

    @property
    def bound_name(self) -> str:
        """The name the import statement binds in the importing module."""
        return self.alias or self.name.split(".")[0]


@dataclass(frozen=True)
class ImportIR:
    source: str
    # Dotted module of a ``from`` import ("" for ``from . import x``); "" for plain imports.
    module: str
    names: tuple[ImportedName, ...]
    is_relative: bool
    level: int
    is_from: bool


@dataclass(frozen=True)
class ClassIR:
    name: str
    kind: ClassKind
    bases: tuple[str, ...]
    location: SourceLocation


@dataclass(frozen=True)
class ProgramIR:
    path: str
    source: str
    signatures: tuple[SignatureIR, ...]
    modules: tuple[ModuleIR, ...]
    imports: tuple[ImportIR, ...]
    toplevel_names: tuple[str, ...]
    classes: tuple[ClassIR, ...]
    diagnostics: tuple[Diagnostic, ...]

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.diagnostics)

    def signature(self, name: str) -> SignatureIR | None:
        return next((s for s in self.signatures if s.name == name), None)

    def module(self, name: str) -> ModuleIR | None:
        return next((m for m in self.modules if m.name == name), None)

    def class_(self, name: str) -> ClassIR | None:
        return next((c for c in self.classes if c.name == name), None)


# libcst parses these as Names, but they are keywords and never need importing.
_KEYWORD_CONSTANTS = frozenset({"None", "True", "False"})


class _NameCollector(cst.CSTVisitor):
    """Collects the root names of an annotation, in order, looking inside string forward refs."""

    def __init__(self) -> None:
        self.names: list[str] = []
        # Strings are forward references only in type positions, not as Literal values or
        # Annotated metadata; this counts how deep we are inside such value positions.
        self._value_depth = 0

    def _add(self, name: str) -> None:
        if name not in self.names:
            self.names.append(name)

    def visit_Name(self, node: cst.Name) -> None:
        if node.value not in _KEYWORD_CONSTANTS:
            self._add(node.value)

    def visit_Arg(self, node: cst.Arg) -> bool:
        # ``Field(ge=1)``: the keyword is not a name to import.
        node.value.visit(self)
        return False

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        # Only the root of ``a.b.C`` is a name that must be imported.
        node.value.visit(self)
        return False

    def visit_Subscript(self, node: cst.Subscript) -> bool:
        node.value.visit(self)
        head = _head_name(node.value)
        for index, element in enumerate(node.slice):
            holds_values = head == "Literal" or (head == "Annotated" and index > 0)
            self._value_depth += holds_values
            element.visit(self)
            self._value_depth -= holds_values
        return False

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        value = node.evaluated_value
        if self._value_depth == 0 and isinstance(value, str):
            for name in annotation_names(value):
                self._add(name)


def _head_name(expression: cst.BaseExpression) -> str | None:
    if isinstance(expression, cst.Name):
        return expression.value
    if isinstance(expression, cst.Attribute):
        return expression.attr.value
    return None


def annotation_names(annotation: str) -> tuple[str, ...]:
    """Top-level names an annotation uses: ``dict[str, models.Invoice]`` -> dict, str, models.

    Names come in order of first appearance; builtins are included so the caller can
    decide what to import. String forward references are looked into; ``Literal``
    values and ``Annotated`` metadata strings are not. Text that does not parse as an
    expression contributes no names.
    """
    try:
        expression = cst.parse_expression(annotation)
    except cst.ParserSyntaxError:
        return ()
    collector = _NameCollector()
    expression.visit(collector)
    return tuple(collector.names)
