"""castlm's mypy plugin: the extra fields of ChainOfThought's and agents' results.

Enable it with ``plugins = ["castlm.compiler.mypy_plugin"]`` under ``[tool.mypy]``. Without
it, predictor and module calls are already typed (see docs/typing.md); the plugin adds what
the type system cannot say on its own: ``ChainOfThought(Triage)(...)`` is a ``Triage``
*and* has ``reasoning: str``; ``ReAct(...)(...)`` (and CodeAct, ProgramOfThought) also has
``trajectory: str``. It lives in the compiler, not the runtime, because emitted packages
vendor the runtime and must not import mypy.
"""

from __future__ import annotations

from collections.abc import Callable

from mypy.checker import TypeChecker
from mypy.nodes import MypyFile, TypeInfo
from mypy.plugin import MethodContext, Plugin
from mypy.types import Instance, Type, get_proper_type

_REASONED = "castlm.core._results.Reasoned"
_TRACED = "castlm.core._results.Traced"
# What each kind of callee adds to its result (checked on the callee's class and its bases).
_EXTRA = {
    "castlm.core._predict.ChainOfThought": _REASONED,
    "castlm.agents._react.ReAct": _TRACED,
    "castlm.agents._codeact.CodeAct": _TRACED,
    "castlm.agents._program_of_thought.ProgramOfThought": _TRACED,
}
# mypy names a method after the receiver's class (``castlm.agents._react.ReAct.__call__``, or a
# user's subclass): the hook sees every call of these names and checks the class itself.
_METHODS = frozenset({"__call__", "acall", "forward", "aforward"})


class CastlmPlugin(Plugin):
    def get_additional_deps(self, file: MypyFile) -> list[tuple[int, str, int]]:
        # Nothing imports the marker classes at run time; mypy must load them to use them.
        return [(10, "castlm.core._results", -1)] if file.fullname == "castlm" else []

    def get_method_hook(self, fullname: str) -> Callable[[MethodContext], Type] | None:
        return _with_extras if fullname.rpartition(".")[2] in _METHODS else None


def _with_extras(ctx: MethodContext) -> Type:
    callee = get_proper_type(ctx.type)
    if not isinstance(callee, Instance) or not isinstance(ctx.api, TypeChecker):
        return ctx.default_return_type
    extra = next((e for base, e in _EXTRA.items() if callee.type.has_base(base)), None)
    if extra is None:
        return ctx.default_return_type
    marker = _marker(ctx.api, extra)
    if marker is None:
        return ctx.default_return_type
    returned = get_proper_type(ctx.default_return_type)
    # acall returns Coroutine[Any, Any, S]: the result is its last argument.
    if isinstance(returned, Instance) and returned.type.fullname == "typing.Coroutine":
        inner = _intersect(ctx.api, returned.args[-1], marker)
        return returned.copy_modified(args=[*returned.args[:-1], inner])
    return _intersect(ctx.api, returned, marker)


def _marker(api: TypeChecker, fullname: str) -> Instance | None:
    module, _, name = fullname.rpartition(".")
    found = api.modules.get(module)
    node = found.names.get(name) if found is not None else None
    return Instance(node.node, []) if node is not None and isinstance(node.node, TypeInfo) else None


def _intersect(api: TypeChecker, result: Type, marker: Instance) -> Type:
    proper = get_proper_type(result)
    if not isinstance(proper, Instance):
        return result
    return api.intersect_instances((proper, marker), []) or result


def plugin(version: str) -> type[Plugin]:
    return CastlmPlugin
