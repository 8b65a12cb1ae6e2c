"""Renders a whole emitted package in memory: relative path -> bytes.

Nothing touches the disk here, so a failure at any point (a value that cannot be frozen, a
name that collides) leaves the previous output alone; :func:`write_package` then swaps the
complete result into place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2
from castlm import PredictorParams
from castlm.compiler.emit import layout, templating
from castlm.compiler.emit.aforward import with_async_twins
from castlm.compiler.emit.entry import EntryPoints, entry_points
from castlm.compiler.emit.errors import EmitError
from castlm.compiler.emit.imports import import_block, name_order
from castlm.compiler.emit.literals import py_value
from castlm.compiler.emit.local_modules import local_module_names, module_file
from castlm.compiler.emit.manifest import manifest_bytes
from castlm.compiler.emit.project import KNN_FILE, pyproject_context, readme_context
from castlm.compiler.emit.public_api import PublicNames, public_names
from castlm.compiler.emit.request import EmitRequest
from castlm.compiler.emit.rewrite import RUNTIME_PACKAGE, rewrite_source
from castlm.compiler.emit.runtime_copy import runtime_files, vendored_modules
from castlm.compiler.emit.runtime_features import lm_features
from castlm.compiler.emit.runtime_graph import root_names
from castlm.compiler.emit.templating import Escaped, code, ident
from castlm.core._knn import KNNPool, dump_knn_pools, knn_demos
from castlm.lm._lm_factory import STANDIN

# What ``__init__.py`` imports for itself; package_init.py.j2 uses these names.
_OWN_IMPORTS = (
    "import os as _os",
    "import threading as _threading",
    "from pathlib import Path as _Path",
    "import typing as _typing",
    "from . import _runtime",
    "from ._runtime import LM",
    "from ._runtime.lm._lm_config import as_lm as _as_lm",
    "from ._runtime.lm._lm_config import configure_lms as _configure_lms",
    "from ._runtime.lm._cache import LMCache as _LMCache",
    "from ._runtime.lm._lm_factory import make_lm as _make_lm",
    "from ._runtime.lm._lm_settings import check_settings as _check_settings",
    "from ._runtime.lm._lm_settings import settings_from_env as _settings_from_env",
    "from ._runtime.base._errors import ConfigurationError as _ConfigurationError",
    # Aliased imports of one module keep this order, which is ruff's.
    "from collections.abc import AsyncIterator as _AsyncIterator",
    "from collections.abc import Callable as _Callable",
    "from collections.abc import Iterator as _Iterator",
)
_SINGLE_IMPORTS = ("from ._frozen import PARAMS as _PARAMS",)
_ENSEMBLE_IMPORTS = (
    "from ._frozen import MEMBERS as _MEMBERS",
    "from ._runtime.modules._ensemble import Ensemble as _Ensemble",
)
_INDENT = "    "


@dataclass(frozen=True)
class FrozenEntry:
    """One predictor's parameters as ``_frozen.py`` lays them out."""

    name: str
    params: PredictorParams
    level: int  # indentation of the entry's first line
    pad: Escaped
    pool: str | None  # its pool's key in _knn.json


def render_package(request: EmitRequest) -> dict[str, bytes]:
    """Every file of the package, keyed by path relative to the output directory."""
    package = ident(request.package)
    local = local_module_names(request.program_path, request.local_modules)
    entry = entry_points(request.ir, request.module_class, local)
    env = templating.environment()
    files = _sources(request, local)
    pools = knn_pools(request)
    files[f"{package}/_frozen.py"] = _render_frozen(env, request, pools).encode("utf-8")
    if pools:
        knn = {name: pool for name, (_, _, pool) in pools.items()}
        files[f"{package}/{KNN_FILE}"] = dump_knn_pools(knn).encode("ascii")
    standin = request.lm_name == STANDIN
    include = {*request.runtime_include, *lm_features(request.lm_name)}
    # The public names re-exported are those of the runtime that the program and __init__'s
    # own imports (load() and the entry points) need.
    own = "\n".join(_own_imports(request, entry)).encode("utf-8")
    probe = {**files, f"{package}/__init__.py": own}
    needed = vendored_modules(probe, package, standin=standin, include=include)
    available = {name for name, module in root_names().items() if module in needed}
    public = public_names({*entry.exported, *entry.program_names}, available)
    init = _render_init(env, request, entry, public, litellm="litellm" in include)
    files[f"{package}/__init__.py"] = init.encode("utf-8")
    files[f"{package}/py.typed"] = b""
    readme_values = readme_context(request, entry, include)
    readme = templating.render(env, "readme.md.j2", **readme_values, public=_described(public))
    files["README.md"] = readme.encode("utf-8")
    pyproject = templating.render(env, "pyproject.toml.j2", **pyproject_context(request))
    files["pyproject.toml"] = pyproject.encode("utf-8")
    files.update(_extra_files(request, files))
    for path in (f"{package}/_frozen.py", f"{package}/__init__.py"):
        templating.check_python(path, files[path].decode("utf-8"))
    modules = vendored_modules(files, package, standin=standin, include=include)
    runtime = runtime_files(modules)
    files.update({f"{package}/{RUNTIME_PACKAGE}/{p}": data for p, data in runtime.items()})
    files[f"{package}/manifest.json"] = manifest_bytes(request, files)
    return files


def _sources(request: EmitRequest, local: Mapping[str, Path]) -> dict[str, bytes]:
    """``program.py`` and the vendored local modules, imports rewritten."""
    package = request.package
    program = with_async_twins(request.program_path.read_bytes(), request.ir)
    files = {f"{package}/program.py": rewrite_source(program, local)}
    for name, source in local.items():
        relative, level = module_file(name, source)
        files[f"{package}/{relative}"] = rewrite_source(source.read_bytes(), local, level)
    return files


def knn_pools(request: EmitRequest) -> dict[str, tuple[int, str, KNNPool]]:
    """The demo pools to ship, by their key in _knn.json: ``(member, predictor, pool)``."""
    pools: dict[str, tuple[int, str, KNNPool]] = {}
    for member, params in enumerate(request.param_sets):
        for name, predictor in params.items():
            if (knn := knn_demos(predictor)) is not None:
                key = f"{member}/{name}" if request.members else name
                pools[key] = (member, name, knn.pool)
    return pools


def _render_frozen(
    env: jinja2.Environment, request: EmitRequest, pools: Mapping[str, tuple[int, str, KNNPool]]
) -> str:
    keys = {(member, name): key for key, (member, name, _) in pools.items()}
    return frozen_module(
        env, request.module_class, request.param_sets, ensemble=bool(request.members), pools=keys
    )


def frozen_module(
    env: jinja2.Environment,
    cls: str,
    param_sets: Sequence[Mapping[str, PredictorParams]],
    *,
    ensemble: bool = False,
    pools: Mapping[tuple[int, str], str] | None = None,
) -> str:
    """The source of ``_frozen.py``: ``PARAMS``, or ``MEMBERS`` for an ensemble; ``pools``
    maps (member, predictor) to the key of its KNN pool in _knn.json."""
    pools = pools or {}
    level = 2 if ensemble else 1
    groups = [
        [
            FrozenEntry(name, p, level, code(_INDENT * level), pools.get((member, name)))
            for name, p in params.items()
        ]
        for member, params in enumerate(param_sets)
    ]
    return templating.render(
        env,
        "frozen.py.j2",
        cls=cls,
        groups=groups,
        ensemble=ensemble,
        knn_file=code(KNN_FILE) if pools else None,
    )


def _extra_files(request: EmitRequest, files: Mapping[str, bytes]) -> dict[str, bytes]:
    """Files beside the package (training data, say); they may not replace generated ones."""
    for path in request.extra_files:
        parts = path.split("/")
        if parts[0] in (request.package, *files) or any(p in ("", ".", "..") for p in parts):
            raise EmitError(f"internal error: an extra file may not be written at {path!r}")
    return dict(request.extra_files)


def _render_init(
    env: jinja2.Environment,
    request: EmitRequest,
    entry: EntryPoints,
    public: PublicNames,
    *,
    litellm: bool,
) -> str:
    ensemble = bool(request.members)
    own = _own_imports(request, entry)
    if public.eager:
        own.append(f"from ._runtime import {', '.join(public.eager)}")
    standin = request.lm_name == STANDIN
    program = f"from .program import {', '.join(entry.program_names)}"
    exported = ["LM", "arun", "astream", "load", "run", "stream", *entry.exported, *public.all]
    returns = f") -> {entry.returns}:"
    run_body, arun_body = _bodies(entry)
    stream_body, astream_body = _stream_bodies(entry)
    events = f"_ProgramEvent[{entry.returns}]"
    cls = ident(request.module_class)
    return templating.render(
        env,
        "package_init.py.j2",
        cls=request.module_class,
        program_type=code(f"_Ensemble[{cls}]") if ensemble else cls,
        ensemble=ensemble,
        member_count=code(str(len(request.members))),
        reducer=code(request.reducer[1] if request.reducer else "majority"),
        custom_reducer=request.reducer is not None,
        lm_name=request.lm_name,
        lm_settings=code(py_value(dict(request.lm_settings), 0, "lm_settings")),
        standin=standin,
        litellm=litellm,
        imports=code(import_block([*own, *entry.imports, program])),
        all_list=code(layout.bracketed("__all__ = [", _sorted_all(exported), "]")),
        lazy_imports=code(_lazy_imports(public.lazy)),
        lazy_set=code(layout.bracketed("_LAZY_PUBLIC = (", _quoted(public.lazy), ")")),
        run_def=code(layout.bracketed("def run(", entry.parameter_list, returns)),
        arun_def=code(layout.bracketed("async def arun(", entry.parameter_list, returns)),
        run_body=code(run_body),
        arun_body=code(arun_body),
        stream_def=code(
            layout.bracketed("def stream(", entry.parameter_list, f") -> _Iterator[{events}]:")
        ),
        astream_def=code(
            layout.bracketed(
                "def astream(", entry.parameter_list, f") -> _AsyncIterator[{events}]:"
            )
        ),
        stream_body=code(stream_body),
        astream_body=code(astream_body),
    )


def _own_imports(request: EmitRequest, entry: EntryPoints) -> list[str]:
    """What ``__init__.py`` imports for itself (castlm's public names apart)."""
    own = [*_OWN_IMPORTS, *(_ENSEMBLE_IMPORTS if request.members else _SINGLE_IMPORTS)]
    if entry.is_async:
        own.append("import asyncio as _asyncio")
        own.append("from ._runtime.observe._instrument import module_call as _module_call")
    if request.reducer is not None:
        module, function = request.reducer
        _check_module(module)
        own.append(f"from .{module} import {ident(function)} as _reduce")
    return own


def _lazy_imports(names: tuple[str, ...]) -> str:
    """castlm's lazily loaded names, imported for type checkers only (see public_api), and
    the private name ``stream``/``astream`` are annotated with (the module loads on use)."""
    private = "    from ._runtime.core._program_stream import ProgramEvent as _ProgramEvent"
    if not names:
        return f"if _typing.TYPE_CHECKING:\n{private}"
    ordered = sorted(names, key=name_order)
    imports = layout.bracketed("from ._runtime import (", ordered, ")", indent=1)
    return f"if _typing.TYPE_CHECKING:\n{imports}\n{private}"


def _described(public: PublicNames) -> list[tuple[str, Escaped]]:
    # The descriptions are castlm's own Markdown (public_api), written as they are.
    return [(name, code(about)) for name, about in public.described()]


def _quoted(names: tuple[str, ...]) -> list[str]:
    return [f'"{name}"' for name in sorted(names, key=name_order)]


def _check_module(module: str) -> None:
    if not all(part.isidentifier() for part in module.split(".")):
        raise EmitError(f"the reducer's module {module!r} is not a dotted Python name")


def _bodies(entry: EntryPoints) -> tuple[str, str]:
    """The statements of ``run`` and ``arun``: one call of the shared program, both on the
    path of a module call (its span, its guards, its usage records).

    A synchronous forward is called through ``Module.__call__`` by ``run`` and through
    ``Module.acall`` by ``arun`` (which prefers an ``aforward`` and otherwise runs forward in
    a worker thread). An async forward is awaited inside the same module call context
    (``_module_call``), or run to completion there by ``run``. The annotated assignment pins
    the result to forward's declared return type (an ensemble's forward returns ``Any``).
    """
    if entry.is_async:
        calls = [("_asyncio.run(program.forward(", "))"), ("await program.forward(", ")")]
    else:
        calls = [("program(", ")"), ("await program.acall(", ")")]
    bodies = []
    for call, close in calls:
        head = f"result: {entry.returns} = {call}"
        statement = layout.bracketed(head, entry.argument_list, close, indent=1 + entry.is_async)
        if entry.is_async:
            statement = f"    with _module_call(program):\n{statement}"
        bodies.append(f"    program = _default_program()\n{statement}\n    return result")
    return bodies[0], bodies[1]


def _stream_bodies(entry: EntryPoints) -> tuple[str, str]:
    """The statements of ``stream`` and ``astream``: Module.stream/astream on the shared
    program. An async forward's events are typed by what it returns once awaited (the
    stream awaits it), which Module's own typing cannot express: a cast says so."""
    args = entry.argument_list
    bodies: list[str] = []
    for method, iterator in (("stream", "_Iterator"), ("astream", "_AsyncIterator")):
        call = f"_default_program().{method}("
        if not entry.is_async:
            bodies.append(layout.bracketed(f"return {call}", args, ")", indent=1))
            continue
        typed = f'"{iterator}[_ProgramEvent[{entry.returns}]]"'
        events = layout.bracketed(f"_events = {call}", args, ")", indent=1)
        cast = layout.bracketed("return _typing.cast(", [typed, "_events"], ")", indent=1)
        bodies.append(f"{events}\n{cast}")
    return bodies[0], bodies[1]


def _sorted_all(names: list[str]) -> list[str]:
    """Quoted and in isort order (constants, then classes, then the rest), as ruff wants;
    unlike imports, ruff sorts ``__all__`` case-sensitively within each group (RUF022)."""
    ordered = sorted(set(names), key=lambda name: (name_order(name)[0], name))
    return [f'"{name}"' for name in ordered]
