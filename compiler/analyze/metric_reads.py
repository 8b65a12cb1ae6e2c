"""Which fields of the example a metric surely reads, found in its source.

``metric(example, pred, trace=None)`` reads labels as ``example.category``,
``example["category"]``, ``example.get("category")`` or ``getattr(example, "category")``.
A row without such a field makes the metric raise (or compare ``None``) only after LM
calls were paid for, so the compiler checks every row for them first.

The analysis only says what it can see for certain:

* any other use of the example (passed to a helper, ``example[name]``, ``example.labels()``,
  an alias) means the metric reads fields dynamically: the answer is "unknown" (``None``);
* a field tested for (``"x" in example``, ``hasattr``, ``.get("x", default)``, ``if
  example.get("x")``) is optional;
* a read is required only when every row reaches it whatever the LM answers: reads under a
  condition that depends on the example, after an early exit decided by the example, inside
  a ``try`` body, a lambda, a comprehension or a nested function are not.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import libcst as cst
from castlm import Example
from castlm.compiler.analyze.literals import string_value
from libcst.metadata import CodeRange, MetadataWrapper, ParentNodeProvider, PositionProvider

# Attribute names that are Example's own API, not fields.
_EXAMPLE_API = frozenset(n for n in dir(Example) if not n.startswith("_"))
_EXITS = (cst.Return, cst.Raise, cst.Break, cst.Continue)


@dataclass(frozen=True)
class FieldRead:
    """A field the metric reads on every row: its name, line and how it is written."""

    name: str
    line: int
    code: str


def metric_reads(source: str, name: str, first_line: int, skip: int = 0) -> list[FieldRead] | None:
    """The fields function ``name`` (defined at ``first_line``, decorators included) surely
    reads from its example parameter (the first positional one after ``skip``), or None
    when it reads fields in a way castlm cannot follow."""
    try:
        wrapper = MetadataWrapper(cst.parse_module(source))
    except cst.ParserSyntaxError:
        return None
    positions = wrapper.resolve(PositionProvider)
    function = _find(wrapper.module, name, first_line, positions)
    if function is None:
        return None
    params = [*function.params.posonly_params, *function.params.params][skip:]
    if not params:
        return None
    reads = _Reads(params[0].name.value, wrapper.resolve(ParentNodeProvider), positions)
    return reads.of(function)


def _find(
    module: cst.Module, name: str, first_line: int, positions: Mapping[cst.CSTNode, CodeRange]
) -> cst.FunctionDef | None:
    found = None
    for node in _functions(module):
        if node.name.value != name:
            continue
        start = min(positions[n].start.line for n in (node, *node.decorators))
        if start <= first_line <= positions[node].end.line:
            found = node
    return found


def _functions(node: cst.CSTNode) -> Iterator[cst.FunctionDef]:
    for child in node.children:
        if isinstance(child, cst.FunctionDef):
            yield child
        yield from _functions(child)


class _Reads:
    """Walks one metric body: each use of the example parameter, and whether it is guarded."""

    def __init__(
        self,
        param: str,
        parents: Mapping[cst.CSTNode, cst.CSTNode],
        positions: Mapping[cst.CSTNode, CodeRange],
    ) -> None:
        self._param = param
        self._parents = parents
        self._positions = positions
        self._tainted = {param}
        self._dynamic = False
        self._optional: set[str] = set()
        self._reads: list[tuple[FieldRead, bool]] = []

    def of(self, function: cst.FunctionDef) -> list[FieldRead] | None:
        self._taint(function)
        self._block(_statements(function.body), guarded=False)
        if self._dynamic:
            return None
        found: dict[str, FieldRead] = {}
        for read, guarded in self._reads:
            if not guarded and read.name not in self._optional:
                found.setdefault(read.name, read)
        return list(found.values())

    # -- which local names hold values computed from the example --------------------------
    def _taint(self, function: cst.FunctionDef) -> None:
        assignments = list(_assignments(function))
        changed = True
        while changed:
            changed = False
            for targets, value in assignments:
                if self._depends(value):
                    for name in targets - self._tainted:
                        self._tainted.add(name)
                        changed = True

    def _depends(self, node: cst.CSTNode | None) -> bool:
        return node is not None and any(n in self._tainted for n in _names(node))

    # -- statements ------------------------------------------------------------------------
    def _block(self, statements: Sequence[cst.CSTNode], guarded: bool) -> None:
        for statement in statements:
            self._statement(statement, guarded)
            if isinstance(statement, cst.SimpleStatementLine) and any(
                isinstance(s, _EXITS) for s in statement.body
            ):
                return
            if not guarded and self._decides_exit(statement):
                guarded = True

    def _decides_exit(self, node: cst.CSTNode, dependent: bool = False) -> bool:
        """Whether ``node`` may leave the block (return, raise, break, continue) on a path
        chosen by the example; ``dependent``: such a choice was already made above it."""
        if isinstance(node, _EXITS):
            return dependent
        if isinstance(node, cst.FunctionDef | cst.ClassDef | cst.Lambda):
            return False
        if isinstance(node, cst.Try | cst.TryStar | cst.Match):
            return _has_exit(node)  # which handler or case runs may depend on the example
        if isinstance(node, cst.If | cst.While):
            dependent = dependent or self._depends(node.test)
        elif isinstance(node, cst.For):
            dependent = dependent or self._depends(node.iter)
        return any(self._decides_exit(child, dependent) for child in node.children)

    def _statement(self, node: cst.CSTNode, guarded: bool) -> None:
        if isinstance(node, cst.If):
            self._expression(node.test, guarded)
            inner = guarded or self._depends(node.test)
            self._block(_statements(node.body), inner)
            if node.orelse is not None:
                orelse = node.orelse
                if isinstance(orelse, cst.If):
                    self._statement(orelse, inner)
                else:
                    self._block(_statements(orelse.body), inner)
        elif isinstance(node, cst.While):
            self._expression(node.test, guarded)
            self._block(_statements(node.body), guarded or self._depends(node.test))
            self._orelse(node.orelse, True)
        elif isinstance(node, cst.For):
            self._expression(node.iter, guarded)
            self._expression(node.target, True)
            self._block(_statements(node.body), guarded or self._depends(node.iter))
            self._orelse(node.orelse, True)
        elif isinstance(node, cst.Try | cst.TryStar):
            self._block(_statements(node.body), True)  # a handler may catch the missing field
            for handler in node.handlers:
                self._expression(handler, True)
            self._orelse(node.orelse, True)
            if node.finalbody is not None:
                self._block(_statements(node.finalbody.body), guarded)
        elif isinstance(node, cst.With):
            for item in node.items:
                self._expression(item, guarded)
            self._block(_statements(node.body), guarded)
        elif isinstance(node, cst.SimpleStatementLine):
            for small in node.body:
                self._expression(small, guarded)
        else:  # match, nested functions and classes: may not run for every row
            self._expression(node, True)

    def _orelse(self, orelse: cst.Else | None, guarded: bool) -> None:
        if orelse is not None:
            self._block(_statements(orelse.body), guarded)

    # -- expressions -----------------------------------------------------------------------
    def _expression(self, node: cst.CSTNode, guarded: bool) -> None:
        if isinstance(node, cst.Name) and node.value == self._param:
            self._use(node, guarded)
        elif isinstance(node, cst.IfExp):
            self._expression(node.test, guarded)
            inner = guarded or self._depends(node.test)
            self._expression(node.body, inner)
            self._expression(node.orelse, inner)
        elif isinstance(node, cst.BooleanOperation):
            self._expression(node.left, guarded)
            self._expression(node.right, guarded or self._depends(node.left))
        elif isinstance(node, cst.Attribute):
            self._expression(node.value, guarded)  # ``.attr`` is a name, not a variable
        elif isinstance(node, cst.Arg):
            self._expression(node.value, guarded)
        else:
            nested = isinstance(
                node,
                cst.Lambda | cst.ListComp | cst.SetComp | cst.DictComp | cst.GeneratorExp,
            )
            for child in node.children:
                self._expression(child, guarded or nested)

    def _use(self, node: cst.Name, guarded: bool) -> None:
        """One occurrence of the example parameter: a field read, a test, or dynamic use."""
        parent = self._parent(node)
        if isinstance(parent, cst.Attribute) and parent.value is node:
            self._attribute(parent, guarded)
        elif isinstance(parent, cst.Subscript) and parent.value is node:
            self._subscript(parent, guarded)
        elif isinstance(parent, cst.ComparisonTarget) and _is_in(parent.operator):
            self._membership(parent)
        elif isinstance(parent, cst.Arg):
            self._builtin_call(parent, guarded)
        else:
            self._dynamic = True

    def _attribute(self, attribute: cst.Attribute, guarded: bool) -> None:
        name = attribute.attr.value
        if name not in _EXAMPLE_API:
            self._read(name, attribute, guarded)
            return
        call = self._parent(attribute)
        if name != "get" or not isinstance(call, cst.Call) or call.func is not attribute:
            self._dynamic = True  # labels(), to_dict(), ...: every field, decided at run time
            return
        key = string_value(call.args[0].value) if call.args else None
        if key is None or len(call.args) > 2 or call.args[0].keyword is not None:
            self._dynamic = True
        elif len(call.args) == 2 or self._is_test(call):
            self._optional.add(key)
        else:
            self._read(key, call, guarded)

    def _subscript(self, subscript: cst.Subscript, guarded: bool) -> None:
        element = subscript.slice[0].slice if len(subscript.slice) == 1 else None
        key = string_value(element.value) if isinstance(element, cst.Index) else None
        if key is None:
            self._dynamic = True
        else:
            self._read(key, subscript, guarded)

    def _membership(self, target: cst.ComparisonTarget) -> None:
        comparison = self._parent(target)
        key = string_value(comparison.left) if isinstance(comparison, cst.Comparison) else None
        if key is not None:
            self._optional.add(key)

    def _builtin_call(self, arg: cst.Arg, guarded: bool) -> None:
        call = self._parent(arg)
        if not isinstance(call, cst.Call) or not isinstance(call.func, cst.Name):
            self._dynamic = True
            return
        args = call.args
        key = string_value(args[1].value) if len(args) > 1 and args[0] is arg else None
        function = call.func.value
        if function == "isinstance" and args[0] is arg:
            return
        tolerant = function == "hasattr" or (function == "getattr" and len(args) == 3)
        if key is not None and tolerant:
            self._optional.add(key)
        elif function == "getattr" and key is not None and len(args) == 2:
            self._read(key, call, guarded)
        else:
            self._dynamic = True

    def _read(self, name: str, node: cst.CSTNode, guarded: bool) -> None:
        line = self._positions[node].start.line
        code = cst.Module(body=[]).code_for_node(node)
        self._reads.append((FieldRead(name, line, code), guarded))

    # -- helpers ---------------------------------------------------------------------------
    def _parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        return self._parents.get(node)

    def _is_test(self, call: cst.Call) -> bool:
        """``example.get("x")`` used as a condition or compared with None: a presence test."""
        parent = self._parent(call)
        if isinstance(parent, cst.If | cst.While | cst.IfExp):
            return parent.test is call
        if isinstance(parent, cst.BooleanOperation | cst.UnaryOperation):
            return True
        if isinstance(parent, cst.Comparison):
            return any(isinstance(t.operator, cst.Is | cst.IsNot) for t in parent.comparisons)
        return False


def _statements(body: cst.BaseSuite) -> Sequence[cst.CSTNode]:
    if isinstance(body, cst.IndentedBlock):
        return body.body
    return [body]


def _has_exit(node: cst.CSTNode) -> bool:
    if isinstance(node, _EXITS):
        return True
    if isinstance(node, cst.FunctionDef | cst.ClassDef | cst.Lambda):
        return False
    return any(_has_exit(child) for child in node.children)


def _is_in(operator: cst.BaseCompOp) -> bool:
    return isinstance(operator, cst.In | cst.NotIn)


def _names(node: cst.CSTNode) -> Iterator[str]:
    """Variable names in ``node`` (not attribute names or keyword-argument names)."""
    if isinstance(node, cst.Name):
        yield node.value
    elif isinstance(node, cst.Attribute | cst.Arg):
        yield from _names(node.value)
    else:
        for child in node.children:
            yield from _names(child)


def _assignments(function: cst.FunctionDef) -> Iterator[tuple[set[str], cst.CSTNode | None]]:
    """(names bound, value) for every binding in the function."""
    for node in _walk(function.body):
        if isinstance(node, cst.Assign):
            targets = {n for t in node.targets for n in _names(t.target)}
            yield targets, node.value
        elif isinstance(node, cst.AnnAssign | cst.AugAssign | cst.NamedExpr):
            yield set(_names(node.target)), node.value
        elif isinstance(node, cst.For | cst.CompFor):
            yield set(_names(node.target)), node.iter
        elif isinstance(node, cst.WithItem) and node.asname is not None:
            yield set(_names(node.asname.name)), node.item


def _walk(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    yield node
    for child in node.children:
        yield from _walk(child)
