"""Writes ``async def aforward`` into every module class of the emitted ``program.py``.

Each class that defines ``forward`` itself (and no ``aforward``) gets its twin right after it:
the same parameters, annotations and body, with the calls the analyzer marked (``TwinIR``)
awaited through the runtime's ``acall``::

    def forward(self, ticket: str) -> Triage:
        return self.triage(ticket=ticket)

    async def aforward(self, ticket: str) -> Triage:
        return await _castlm_acall(self.triage, ticket=ticket)

Control flow, local code and calls of plain functions stay as written. A forward the analyzer
found unsafe (CL401) gets a twin that runs it in a thread, so that it never inherits the
awaiting twin of a base class. The runtime makes the same twin for uncompiled programs
(castlm/core/_aforward.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
from castlm.compiler.analyze.asyncable import is_awaited, self_name
from castlm.compiler.ir import ProgramIR, TwinIR

ACALL = "_castlm_acall"
IN_THREAD = "_castlm_in_thread"
_IMPORTS = {ACALL: "acall", IN_THREAD: "in_thread"}
_NO_SPACE_EQUAL = cst.AssignEqual(
    whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
)
_NOTE = "# Written by castlm compile from forward: predictor and module calls are awaited."


def with_async_twins(source: bytes, ir: ProgramIR) -> bytes:
    """``source`` with an ``aforward`` after each module class's ``forward``."""
    twins = {m.name: m.twin for m in ir.modules if m.twin is not None}
    if not twins:
        return source
    module = cst.parse_module(source)
    used: set[str] = set()
    body = [
        _with_twin(statement, twins[statement.name.value], used)
        if isinstance(statement, cst.ClassDef) and statement.name.value in twins
        else statement
        for statement in module.body
    ]
    if not used:
        return source
    return module.with_changes(body=_with_imports(body, sorted(used))).bytes


def _with_twin(node: cst.ClassDef, twin: TwinIR, used: set[str]) -> cst.ClassDef:
    if not isinstance(node.body, cst.IndentedBlock):
        return node
    statements: list[cst.BaseStatement] = []
    for statement in node.body.body:
        statements.append(statement)
        if isinstance(statement, cst.FunctionDef) and statement.name.value == "forward":
            statements.append(_twin_of(statement, twin, used))
    return node.with_changes(body=node.body.with_changes(body=statements))


def _twin_of(forward: cst.FunctionDef, twin: TwinIR, used: set[str]) -> cst.FunctionDef:
    owner = self_name(forward)
    if twin.problems or owner is None:
        used.add(IN_THREAD)
        body: cst.BaseSuite = _in_thread_body(forward, owner or "self")
        note = f"# castlm check CL401: {twin.problems[0] if twin.problems else 'no self'}; "
        note += "forward runs in a thread."
    else:
        awaiter = _AwaitCalls(owner, frozenset(twin.awaited_names), frozenset(twin.methods))
        visited = forward.body.visit(awaiter)
        assert isinstance(visited, cst.BaseSuite)  # the transformer never removes a body
        body = visited
        if awaiter.awaited:
            used.add(ACALL)
        note = _NOTE
    return forward.with_changes(
        name=cst.Name("aforward"),
        asynchronous=cst.Asynchronous(),
        decorators=(),
        body=body,
        leading_lines=[cst.EmptyLine(indent=False), cst.EmptyLine(comment=cst.Comment(note))],
    )


class _AwaitCalls(cst.CSTTransformer):
    """``callee(...)`` -> ``await _castlm_acall(callee, ...)`` for the calls the twin awaits."""

    def __init__(self, owner: str, names: frozenset[str], methods: frozenset[str]) -> None:
        super().__init__()
        self._owner = owner
        self._names = names
        self._methods = methods
        self.awaited = 0

    # Nested functions, lambdas, classes and generator expressions stay as written: the
    # analyzer made sure they call no predictor (an await there would change what they are).
    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_GeneratorExp(self, node: cst.GeneratorExp) -> bool:
        return False

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        func = _parenthesized(updated_node.func)
        if not is_awaited(func, self._owner, self._names, self._methods):
            return updated_node.with_changes(func=func)
        self.awaited += 1
        first = cst.Arg(
            value=func,
            comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
            if updated_node.args
            else cst.MaybeSentinel.DEFAULT,
        )
        call = updated_node.with_changes(
            func=cst.Name(ACALL), args=[first, *updated_node.args], lpar=[], rpar=[]
        )
        return cst.Await(expression=call, lpar=updated_node.lpar, rpar=updated_node.rpar)

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.Attribute:
        return updated_node.with_changes(value=_parenthesized(updated_node.value))

    def leave_Subscript(
        self, original_node: cst.Subscript, updated_node: cst.Subscript
    ) -> cst.Subscript:
        return updated_node.with_changes(value=_parenthesized(updated_node.value))


def _parenthesized(node: cst.BaseExpression) -> cst.BaseExpression:
    """``(await f()).x``: ``await`` binds looser than ``.``, ``[]`` and ``()``."""
    if isinstance(node, cst.Await) and not node.lpar:
        return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return node


def _in_thread_body(forward: cst.FunctionDef, owner: str) -> cst.IndentedBlock:
    method = cst.Attribute(value=cst.Name(owner), attr=cst.Name("forward"))
    call = cst.Call(
        func=cst.Name(IN_THREAD),
        args=_comma_separated([cst.Arg(method), *_pass_on(forward.params)]),
    )
    statement = cst.SimpleStatementLine([cst.Return(cst.Await(call))])
    return cst.IndentedBlock(body=[statement])


def _pass_on(params: cst.Parameters) -> list[cst.Arg]:
    """Arguments that pass every parameter of ``params`` (but ``self``) on unchanged."""
    positional = [*params.posonly_params, *params.params][1:]
    args = [cst.Arg(cst.Name(p.name.value)) for p in positional]
    if isinstance(params.star_arg, cst.Param):
        args.append(cst.Arg(cst.Name(params.star_arg.name.value), star="*"))
    args.extend(
        cst.Arg(cst.Name(p.name.value), keyword=cst.Name(p.name.value), equal=_NO_SPACE_EQUAL)
        for p in params.kwonly_params
    )
    if params.star_kwarg is not None:
        args.append(cst.Arg(cst.Name(params.star_kwarg.name.value), star="**"))
    return args


def _comma_separated(args: Sequence[cst.Arg]) -> list[cst.Arg]:
    comma = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    return [a.with_changes(comma=comma) for a in args[:-1]] + list(args[-1:])


def _with_imports(
    body: Sequence[cst.BaseStatement], names: Sequence[str]
) -> list[cst.BaseStatement]:
    """``body`` with ``from castlm.base._acall import ...`` after the docstring and future imports
    (the import rewriter then points it at the vendored runtime)."""
    aliases = [
        cst.ImportAlias(name=cst.Name(_IMPORTS[n]), asname=cst.AsName(name=cst.Name(n)))
        for n in names
    ]
    statement = cst.SimpleStatementLine(
        [
            cst.ImportFrom(
                module=cst.Attribute(
                    value=cst.Attribute(value=cst.Name("castlm"), attr=cst.Name("base")),
                    attr=cst.Name("_acall"),
                ),
                names=_comma_separated_aliases(aliases),
            )
        ]
    )
    at = 0
    while at < len(body) and _is_preamble(body[at]):
        at += 1
    if at:
        statement = statement.with_changes(leading_lines=[cst.EmptyLine(indent=False)])
    return [*body[:at], statement, *body[at:]]


def _comma_separated_aliases(aliases: list[cst.ImportAlias]) -> list[cst.ImportAlias]:
    comma = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    return [a.with_changes(comma=comma) for a in aliases[:-1]] + aliases[-1:]


def _is_preamble(statement: cst.BaseStatement) -> bool:
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return False
    small = statement.body[0]
    if isinstance(small, cst.Expr):
        return isinstance(small.value, cst.SimpleString | cst.ConcatenatedString)
    return (
        isinstance(small, cst.ImportFrom)
        and isinstance(small.module, cst.Name)
        and small.module.value == "__future__"
    )
