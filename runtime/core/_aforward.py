"""The async twin of a synchronous ``forward``, made from its source at first use.

``Module.acall`` on a module without ``aforward`` runs this twin, so an async program makes
its LM calls on the event loop, without a thread per call. The compiler writes the same twin
into emitted packages as source (compiler/emit/aforward.py), with the same rules:

- a call whose callee is ``self.<attribute>`` (indexed or dotted further: ``self.hops[i]``,
  ``self.stage.route``), or a local variable (``for hop in self.hops: hop(...)``), becomes
  ``await acall(callee, ...)``; a call of a function defined in the same file and marked with
  :func:`castlm.blocking` too. ``acall`` (castlm._acall) awaits the callee's ``acall`` when
  it has an async one (predictors, modules, tools, blocking functions), else calls it;
- calls of the module's own methods, of other functions and builtins stay as written.

A ``forward`` that cannot be transformed safely keeps running in a thread (see
:func:`problems`); ``castlm check`` reports the same cases as CL401.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..base._acall import acall
from ..base._blocking import Blocking

if TYPE_CHECKING:
    from ._module import Module

_DISPATCH = "__castlm_acall__"
_RUNTIME = __name__.rpartition(".")[0]  # castlm, or <pkg>._runtime in an emitted package
_DYNAMIC = frozenset({"getattr", "setattr", "delattr", "vars"})

AsyncForward = Callable[..., Awaitable[Any]]
# forward function -> its twin, or None when it runs in a thread.
_twins: dict[Callable[..., Any], Callable[..., Awaitable[Any]] | None] = {}


def twin(module: Module) -> AsyncForward | None:
    """``module``'s async forward, bound to it; None when forward must run in a thread."""
    forward = getattr(type(module), "forward", None)
    if not isinstance(forward, types.FunctionType):
        return None
    try:
        made = _twins[forward]
    except KeyError:
        made = _twins[forward] = _make(forward, type(module))
    return None if made is None else types.MethodType(made, module)


def _make(forward: types.FunctionType, owner: type) -> Callable[..., Awaitable[Any]] | None:
    code = forward.__code__
    if code.co_freevars or code.co_flags & (inspect.CO_GENERATOR | inspect.CO_COROUTINE):
        return None  # a closure (zero-argument super() too) or a generator: keep the thread
    try:
        source = textwrap.dedent(inspect.getsource(forward))
        filename = inspect.getsourcefile(forward) or "<forward>"
    except (OSError, TypeError):
        return None
    tree = ast.parse(source)
    function = tree.body[0]
    if not isinstance(function, ast.FunctionDef) or function.decorator_list:
        return None
    if not function.args.args or problems(function, _methods(owner)):
        return None
    blocking = _blocking_names(forward)
    self_name = function.args.args[0].arg
    class_names = frozenset(name for name in dir(owner) if not name.startswith("__"))
    rewriter = _Rewriter(self_name, _local_names(function), blocking, class_names)
    made = rewriter.rewrite(function)
    ast.increment_lineno(made, code.co_firstlineno - 1)
    namespace: dict[str, Any] = {}
    exec(compile(made, filename, "exec", dont_inherit=True), forward.__globals__, namespace)
    factory: Callable[[Any], Callable[..., Awaitable[Any]]] = namespace["__castlm_twin__"]
    return factory(acall)


def problems(function: ast.FunctionDef, methods: dict[str, ast.FunctionDef]) -> list[str]:
    """Why ``function`` cannot be made async safely (empty when it can)."""
    self_name = function.args.args[0].arg if function.args.args else ""
    found: list[str] = []
    for node in _walk_body(function):
        if isinstance(node, ast.Yield | ast.YieldFrom):
            found.append("forward is a generator")
        elif isinstance(node, ast.Lambda | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if _calls_self(node, self_name):
                found.append("a predictor is called inside a nested function or lambda")
        elif isinstance(node, ast.GeneratorExp) and _calls_self(node, self_name):
            found.append("a predictor is called inside a generator expression")
        elif isinstance(node, ast.Call) and _dynamic(node, self_name):
            found.append("an attribute of self is looked up dynamically")
        elif isinstance(node, ast.Call) and _calls_predictors(
            helper := _method_called(node, self_name, methods), methods
        ):
            assert helper is not None
            found.append(f"a predictor is called inside the helper method {helper.name}()")
    return found


def _walk_body(function: ast.FunctionDef) -> list[ast.AST]:
    """Every node of the body, without descending into nested functions (reported whole)."""
    found: list[ast.AST] = []
    stack: list[ast.AST] = list(reversed(function.body))
    while stack:
        node = stack.pop()
        found.append(node)
        if not isinstance(node, ast.Lambda | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            stack.extend(reversed(list(ast.iter_child_nodes(node))))
    return found


def _root(node: ast.expr, self_name: str) -> str | None:
    """The attribute of ``self`` an expression such as ``self.hops[i].x`` starts from."""
    while isinstance(node, ast.Attribute | ast.Subscript):
        if isinstance(node, ast.Attribute) and _is_name(node.value, self_name):
            return node.attr
        node = node.value
    return None


def _is_name(node: ast.expr, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _calls_self(
    node: ast.AST, self_name: str, methods: dict[str, ast.FunctionDef] | None = None
) -> bool:
    """Whether ``node`` calls something held in an attribute of ``self`` (not a method)."""
    for inner in ast.walk(node):
        if isinstance(inner, ast.Call):
            root = _root(inner.func, self_name)
            if root is not None and (methods is None or root not in methods):
                return True
    return False


def _calls_predictors(helper: ast.FunctionDef | None, methods: dict[str, ast.FunctionDef]) -> bool:
    return (
        helper is not None
        and bool(helper.args.args)
        and _calls_self(helper, helper.args.args[0].arg, methods)
    )


def _dynamic(call: ast.Call, self_name: str) -> bool:
    func = call.func
    return (
        isinstance(func, ast.Name)
        and func.id in _DYNAMIC
        and bool(call.args)
        and _is_name(call.args[0], self_name)
    )


def _method_called(
    call: ast.Call, self_name: str, methods: dict[str, ast.FunctionDef]
) -> ast.FunctionDef | None:
    func = call.func
    if isinstance(func, ast.Attribute) and _is_name(func.value, self_name):
        return methods.get(func.attr)
    return None


def _methods(owner: type) -> dict[str, ast.FunctionDef]:
    """The plain methods of ``owner`` and its bases outside castlm (mixins included: their
    methods are called through ``self`` too), parsed."""
    methods: dict[str, ast.FunctionDef] = {}
    for klass in reversed(owner.__mro__):
        if klass is object or _is_castlm(klass.__module__):
            continue
        for name, value in vars(klass).items():
            parsed = _parsed(value) if isinstance(value, types.FunctionType) else None
            if parsed is not None and name != "forward":
                methods[name] = parsed
    return methods


def _is_castlm(module: str) -> bool:
    return module == _RUNTIME or module.startswith(_RUNTIME + ".")


def _parsed(func: types.FunctionType) -> ast.FunctionDef | None:
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError, SyntaxError):
        return None
    node = tree.body[0] if tree.body else None
    return node if isinstance(node, ast.FunctionDef) else None


def _local_names(function: ast.FunctionDef) -> frozenset[str]:
    """Parameters and names ``function`` assigns (loop targets included), not ``self``."""
    args = function.args
    names = {a.arg for a in (*args.posonlyargs, *args.args[1:], *args.kwonlyargs)}
    names.update(a.arg for a in (args.vararg, args.kwarg) if a is not None)
    for node in _walk_body(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return frozenset(names)


def _blocking_names(forward: types.FunctionType) -> frozenset[str]:
    """Globals of forward's file that are functions of that file marked castlm.blocking."""
    module = forward.__module__
    return frozenset(
        name
        for name, value in forward.__globals__.items()
        if isinstance(value, Blocking) and getattr(value.func, "__module__", None) == module
    )


class _Rewriter(ast.NodeTransformer):
    def __init__(
        self,
        self_name: str,
        local: frozenset[str],
        blocking: frozenset[str],
        methods: frozenset[str],
    ) -> None:
        self._self = self_name
        self._candidates = local | blocking
        self._methods = methods

    def rewrite(self, function: ast.FunctionDef) -> ast.Module:
        body = [self.visit(statement) for statement in function.body]
        args = _without_annotations(function.args)
        twin_def = ast.AsyncFunctionDef(
            name="aforward", args=args, body=body, decorator_list=[], returns=None
        )
        factory = ast.FunctionDef(
            name="__castlm_twin__",
            args=ast.arguments(
                posonlyargs=[],
                args=[ast.arg(_DISPATCH)],
                kwonlyargs=[],
                kw_defaults=[],
                defaults=[],
            ),
            body=[twin_def, ast.Return(ast.Name("aforward", ast.Load()))],
            decorator_list=[],
            returns=None,
        )
        ast.copy_location(twin_def, function)
        ast.copy_location(factory, function)
        return ast.fix_missing_locations(ast.Module(body=[factory], type_ignores=[]))

    def visit_Call(self, node: ast.Call) -> ast.expr:
        self.generic_visit(node)
        func = node.func
        if isinstance(func, ast.Name):
            awaited = func.id in self._candidates
        elif isinstance(func, ast.Attribute) and _is_name(func.value, self._self):
            awaited = func.attr not in self._methods  # the module's own methods run as written
        else:
            awaited = _root(func, self._self) is not None
        if not awaited:
            return node
        call = ast.Call(ast.Name(_DISPATCH, ast.Load()), [func, *node.args], node.keywords)
        return ast.copy_location(ast.Await(ast.copy_location(call, node)), node)

    def visit_Lambda(self, node: ast.Lambda) -> ast.Lambda:
        return node  # checked by problems(): nothing in it calls self

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        return node

    def visit_GeneratorExp(self, node: ast.GeneratorExp) -> ast.GeneratorExp:
        return node


def _without_annotations(args: ast.arguments) -> ast.arguments:
    """Annotations may name things imported only for type checking: the twin needs none."""
    for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
        if arg is not None:
            arg.annotation = None
    return args
