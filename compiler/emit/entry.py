"""The typed entry points of an emitted package, worked out from the program's IR.

``run()`` re-declares ``forward``'s parameters as keyword-only parameters with the same
annotations and defaults, and returns ``forward``'s return annotation. That text only type
checks in ``__init__.py`` if every name it uses is bound there too: names the program defines
are imported from ``.program``; names the program imports are imported the same way (the
import statement replicated, rewritten like ``program.py``); builtins need nothing.
"""

from __future__ import annotations

import builtins
import keyword
from collections.abc import Collection, Iterable
from dataclasses import dataclass

import libcst as cst
from castlm.compiler.emit.errors import EmitError
from castlm.compiler.emit.imports import merge_imports
from castlm.compiler.emit.rewrite import rewrite_statement
from castlm.compiler.ir import ForwardIR, ImportIR, ModuleIR, ParamIR, ProgramIR, annotation_names

# Names the generated ``__init__.py`` binds itself (package_init.py.j2); user names that the
# entry points need must not collide with them.
RESERVED_NAMES = frozenset(
    {"LM", "load", "run", "arun", "_asyncio", "_os", "_threading", "_Path", "_PARAMS"}
    | {"stream", "astream", "_Iterator", "_AsyncIterator", "_ProgramEvent"}
    | {"_LMCache", "_make_lm", "_COMPILED_LM", "_lm_from", "_env_cache", "_default_program"}
    | {"_configure_lms", "_configure", "_maker", "_COMPILED_LM_SETTINGS", "_Callable"}
    | {"_check_settings", "_settings_from_env", "_ConfigurationError"}
    | {"_configure_lms", "_configure", "_as_lm"}
    | {"_default", "_default_lock", "_MEMBERS", "_Ensemble", "_reduce"}
    | {"_typing", "_runtime", "_LAZY_PUBLIC", "__getattr__"}
)
_CASTLM_LM = "from ._runtime import LM"
# Names the entry points' bodies use; a parameter of the same name would shadow them.
_BODY_NAMES = frozenset({"_default_program", "_asyncio", "_typing", "_events"})
_ANY_IMPORT = "from typing import Any"


@dataclass(frozen=True)
class EntryParam:
    """One parameter of ``run``/``arun``, and how it is passed on to ``forward``."""

    name: str
    annotation: str
    default: str | None
    star: str  # "", "*" or "**"
    positional: bool  # passed to forward by position (it was positional-or-keyword there)

    @property
    def declaration(self) -> str:
        text = f"{self.star}{self.name}: {self.annotation}"
        return text if self.default is None else f"{text} = {self.default}"

    @property
    def argument(self) -> str:
        if self.star or self.positional:
            return f"{self.star}{self.name}"
        return f"{self.name}={self.name}"


@dataclass(frozen=True)
class EntryPoints:
    """What ``__init__.py`` declares: ``run``/``arun``'s signature and the imports it needs."""

    module_class: str
    params: tuple[EntryParam, ...]
    returns: str
    is_async: bool
    # Names imported from ``.program`` (the module class, signatures, annotation names).
    program_names: tuple[str, ...]
    # Other import statements the annotations need, already rewritten for the package.
    imports: tuple[str, ...]
    # What ``__init__`` re-exports besides its own functions: the program's classes and the
    # names from vendored local modules that its signature uses (callers need them too).
    exported: tuple[str, ...]

    @property
    def parameter_list(self) -> list[str]:
        """``run``'s parameters: keyword-only, except ``*args`` and ``**kwargs``."""
        star = [p.declaration for p in self.params if p.star == "*"]
        named = [p.declaration for p in self.params if not p.star]
        double = [p.declaration for p in self.params if p.star == "**"]
        if named and not star:
            star = ["*"]
        return [*star, *named, *double]

    @property
    def argument_list(self) -> list[str]:
        """How ``run`` passes its parameters on to ``forward``."""
        positional = [p.argument for p in self.params if p.positional and not p.star]
        star = [p.argument for p in self.params if p.star == "*"]
        keywords = [p.argument for p in self.params if not p.positional and not p.star]
        double = [p.argument for p in self.params if p.star == "**"]
        return [*positional, *star, *keywords, *double]


def entry_points(ir: ProgramIR, module_class: str, local_modules: Collection[str]) -> EntryPoints:
    """The entry points of ``module_class``; ``local_modules`` are the vendored module names."""
    module = _module(ir, module_class)
    forward = _forward(module)
    params = tuple(_entry_param(p) for p in forward.params)
    _check_param_names(params)
    returns = forward.return_annotation or "Any"
    needed = _needed_names(forward)
    program_names, imports, local_names = _resolve(ir, needed, local_modules)
    if "Any" not in program_names and (
        returns == "Any" or any(p.annotation == "Any" for p in params)
    ):
        imports = merge_imports([*imports, _ANY_IMPORT])
    signatures = [s.name for s in ir.signatures if s.name in ir.toplevel_names]
    for name in (module_class, *signatures):
        _check_free(name, "is a class of the program that the package re-exports")
    program_names = sorted({module_class, *signatures, *program_names})
    return EntryPoints(
        module_class=module_class,
        params=params,
        returns=returns,
        is_async=forward.is_async,
        program_names=tuple(program_names),
        imports=tuple(imports),
        exported=tuple(sorted({*program_names, *local_names})),
    )


def _module(ir: ProgramIR, name: str) -> ModuleIR:
    module = ir.module(name)
    if module is None:
        known = ", ".join(m.name for m in ir.modules) or "none"
        raise EmitError(f"{ir.path} has no castlm Module named {name!r} (modules: {known})")
    return module


def _forward(module: ModuleIR) -> ForwardIR:
    if module.forward is None:
        raise EmitError(
            f"module {module.name} has no forward() defined in this file, so its entry points "
            f"cannot be typed; define forward on {module.name} or on a base class in the file"
        )
    return module.forward


def _entry_param(param: ParamIR) -> EntryParam:
    return EntryParam(
        name=param.name,
        annotation=param.annotation or "Any",
        default=param.default,
        star=param.star,
        positional=not param.keyword_only and not param.star,
    )


def _check_param_names(params: Iterable[EntryParam]) -> None:
    for param in params:
        if param.name in _BODY_NAMES:
            raise EmitError(
                f"forward's parameter {param.name!r} would shadow a name the generated entry "
                f"points use; rename it"
            )


def _needed_names(forward: ForwardIR) -> list[str]:
    """Names the signature's source text uses (not the ``Any`` put in for missing types)."""
    names: list[str] = []
    for param in forward.params:
        if param.annotation is not None:
            names.extend(annotation_names(param.annotation))
        if param.default is not None:
            names.extend(expression_names(param.default))
    if forward.return_annotation is not None:
        names.extend(annotation_names(forward.return_annotation))
    return list(dict.fromkeys(names))


def _resolve(
    ir: ProgramIR, needed: Iterable[str], local_modules: Collection[str]
) -> tuple[list[str], list[str], list[str]]:
    """The needed names imported from ``.program``, the replicated import statements, and
    the names those statements import from vendored local modules."""
    from_program: list[str] = []
    imports: list[str] = []
    local_names: list[str] = []
    for name in needed:
        if name in ir.toplevel_names:
            _check_free(name, "is defined by the program")
            from_program.append(name)
            continue
        statements = [rewrite_statement(s, local_modules) for s in _imports_binding(ir, name)]
        if statements:
            if statements != [_CASTLM_LM]:  # the very LM the package imports anyway
                _check_free(name, f"comes from `{statements[0]}`")
            imports.extend(statements)
            if any(_is_local(s) for s in statements):
                local_names.append(name)
        elif not hasattr(builtins, name):
            imports.extend(_star_imports(ir, name, local_modules))
    return from_program, merge_imports(imports), local_names


def _is_local(statement: str) -> bool:
    """Whether a rewritten import takes names from a vendored local module (``from .helpers
    import Channel``), not from the runtime and not a module itself (``from . import x``)."""
    return statement.startswith("from .") and not statement.startswith(
        ("from . ", "from ._runtime")
    )


def _check_free(name: str, origin: str) -> None:
    if name in RESERVED_NAMES:
        raise EmitError(
            f"forward's signature uses {name!r}, which {origin}; the generated package binds "
            f"{name!r} itself, so rename it in the program"
        )


def _imports_binding(ir: ProgramIR, name: str) -> list[str]:
    """Import statements of the program that bind ``name``, reduced to that one name."""
    statements: list[str] = []
    for imp in ir.imports:
        for imported in imp.names:
            if imported.bound_name == name:
                statements.append(_single_import(imp, imported.name, imported.alias))
    return statements


def _single_import(imp: ImportIR, name: str, alias: str | None) -> str:
    bound = f"{name} as {alias}" if alias else name
    if not imp.is_from:
        return f"import {bound}"
    return f"from {'.' * imp.level}{imp.module} import {bound}"


def _star_imports(ir: ProgramIR, name: str, local_modules: Collection[str]) -> list[str]:
    stars = [imp for imp in ir.imports if any(n.name == "*" for n in imp.names)]
    if not stars:
        raise EmitError(
            f"forward's signature uses {name!r}, which {ir.path} neither defines nor imports"
        )
    # The name presumably comes from a ``*`` import; replicate those.
    return [rewrite_statement(_single_import(imp, "*", None), local_modules) for imp in stars]


class _Names(cst.CSTVisitor):
    """Root names an expression reads; strings are values here, never forward references."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def visit_Name(self, node: cst.Name) -> None:
        if node.value not in {"None", "True", "False"} and not keyword.iskeyword(node.value):
            self.names.append(node.value)

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        node.value.visit(self)
        return False

    def visit_Arg(self, node: cst.Arg) -> bool:
        node.value.visit(self)
        return False


def expression_names(expression: str) -> tuple[str, ...]:
    """Root names a default value's source text uses (``Mode.FAST`` -> ``Mode``)."""
    collector = _Names()
    cst.parse_expression(expression).visit(collector)
    return tuple(dict.fromkeys(collector.names))
