"""Whether a Module's ``forward`` can get an async twin, and what the twin awaits.

The emitter writes ``aforward`` from ``forward`` (compiler/emit/aforward.py); the runtime makes
the same twin at first use for programs that are not compiled (castlm/core/_aforward.py). Both
follow the rules stated there: calls of ``self.<attribute>`` (not a method), of local variables
and of same-file functions marked ``castlm.blocking`` are awaited through ``acall``; everything else
stays as written. The cases below cannot be transformed safely: the module keeps running
``forward`` in a thread, and ``castlm check`` says why (CL401).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import libcst as cst
from castlm.compiler.analyze.imports import Aliases

_DYNAMIC = frozenset({"getattr", "setattr", "delattr", "vars"})
_Nested = cst.FunctionDef | cst.Lambda | cst.ClassDef


def castlm_methods() -> frozenset[str]:
    """Attributes every castlm Module has (``self.predictors()`` is a method call)."""
    import castlm

    return frozenset(name for name in dir(castlm.Module) if not name.startswith("__"))


def self_name(function: cst.FunctionDef) -> str | None:
    params = function.params.params or function.params.posonly_params
    return params[0].name.value if params else None


def self_root(node: cst.BaseExpression, owner: str) -> str | None:
    """The attribute of ``self`` an expression such as ``self.hops[i].x`` starts from."""
    while isinstance(node, cst.Attribute | cst.Subscript):
        if isinstance(node, cst.Attribute) and _is_name(node.value, owner):
            return node.attr.value
        node = node.value
    return None


def is_awaited(
    func: cst.BaseExpression, owner: str, names: frozenset[str], methods: frozenset[str]
) -> bool:
    """Whether a call of ``func`` becomes ``await acall(func, ...)`` in the twin.

    ``names`` are forward's local variables and the blocking functions it may call; ``methods``
    the module's own methods, which run as written.
    """
    if isinstance(func, cst.Name):
        return func.value in names
    if isinstance(func, cst.Attribute) and _is_name(func.value, owner):
        return func.attr.value not in methods
    return self_root(func, owner) is not None


def problems(
    function: cst.FunctionDef, methods: Mapping[str, cst.FunctionDef]
) -> list[tuple[cst.CSTNode, str]]:
    """Why ``function`` cannot be made async safely, each at its node (empty when it can)."""
    owner = self_name(function)
    if owner is None:
        return [(function.name, "forward takes no self parameter")]
    found: list[tuple[cst.CSTNode, str]] = []
    if function.decorators:
        found.append((function.decorators[0], "forward is decorated"))
    for node in body_nodes(function):
        if isinstance(node, cst.Yield):
            found.append((node, "forward is a generator"))
        elif isinstance(node, _Nested) and _calls_self(node, owner, None):
            found.append((node, "a predictor is called inside a nested function or lambda"))
        elif isinstance(node, cst.GeneratorExp) and _calls_self(node, owner, None):
            found.append((node, "a predictor is called inside a generator expression"))
        elif isinstance(node, cst.Call) and _dynamic(node, owner):
            found.append((node, "an attribute of self is looked up dynamically"))
        elif isinstance(node, cst.Call) and (helper := _helper(node, owner, methods)):
            found.append(
                (node, f"a predictor is called inside the helper method {helper.name.value}()")
            )
    return found


def body_nodes(function: cst.FunctionDef) -> Iterator[cst.CSTNode]:
    """Every node of the body, not descending into nested functions, lambdas or classes."""
    stack: list[cst.CSTNode] = [function.body]
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, _Nested):
            stack.extend(reversed(node.children))


def local_names(function: cst.FunctionDef) -> frozenset[str]:
    """Parameters (not ``self``) and the names the body binds, loop targets included."""
    params = function.params
    every = [*params.posonly_params, *params.params, *params.kwonly_params]
    names = {p.name.value for p in every[1:]}
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            names.add(star.name.value)
    for node in body_nodes(function):
        for target in _targets(node):
            names.update(_bound(target))
    return frozenset(names)


def blocking_functions(module: cst.Module, aliases: Aliases) -> frozenset[str]:
    """Top-level functions of the file decorated with ``castlm.blocking``."""
    return frozenset(
        statement.name.value
        for statement in module.body
        if isinstance(statement, cst.FunctionDef)
        and any(aliases.castlm_name(d.decorator) == "blocking" for d in statement.decorators)
    )


def _targets(node: cst.CSTNode) -> list[cst.BaseExpression]:
    if isinstance(node, cst.Assign):
        return [t.target for t in node.targets]
    if isinstance(node, cst.AnnAssign | cst.AugAssign | cst.NamedExpr):
        return [node.target]
    if isinstance(node, cst.For | cst.CompFor):
        return [node.target]
    if isinstance(node, cst.WithItem) and node.asname is not None:
        return [node.asname.name]
    if isinstance(node, cst.ExceptHandler) and node.name is not None:
        return [node.name.name]
    return []


def _bound(target: cst.BaseExpression) -> set[str]:
    if isinstance(target, cst.Name):
        return {target.value}
    if isinstance(target, cst.Tuple | cst.List):
        return {name for element in target.elements for name in _bound(element.value)}
    if isinstance(target, cst.StarredElement):
        return _bound(target.value)
    return set()


def _is_name(node: cst.BaseExpression, name: str) -> bool:
    return isinstance(node, cst.Name) and node.value == name


def _calls_self(node: cst.CSTNode, owner: str, methods: Mapping[str, object] | None) -> bool:
    """Whether ``node`` calls something held in an attribute of ``self`` (not a method)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Call):
            root = self_root(current.func, owner)
            if root is not None and (methods is None or root not in methods):
                return True
        stack.extend(current.children)
    return False


def _dynamic(call: cst.Call, owner: str) -> bool:
    func = call.func
    return (
        isinstance(func, cst.Name)
        and func.value in _DYNAMIC
        and bool(call.args)
        and _is_name(call.args[0].value, owner)
    )


def _helper(
    call: cst.Call, owner: str, methods: Mapping[str, cst.FunctionDef]
) -> cst.FunctionDef | None:
    """The module's own method ``call`` calls, when that method calls predictors."""
    func = call.func
    if not (isinstance(func, cst.Attribute) and _is_name(func.value, owner)):
        return None
    helper = methods.get(func.attr.value)
    if helper is None or (helper_self := self_name(helper)) is None:
        return None
    return helper if _calls_self(helper, helper_self, methods) else None
