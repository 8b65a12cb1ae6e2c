"""Renders a whole emitted package in memory: relative path -> bytes.

Nothing touches the disk here, so a failure at any point (a value that cannot be frozen, a
name that collides) leaves the previous output alone; :func:`write_package` then swaps the
complete result into place.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import jinja2
from castlm.compiler.emit import layout, templating
from castlm.compiler.emit.entry import EntryPoints, entry_points
from castlm.compiler.emit.imports import import_block, name_order
from castlm.compiler.emit.local_modules import local_module_names, module_file
from castlm.compiler.emit.manifest import manifest_bytes
from castlm.compiler.emit.project import pyproject_context, readme_context
from castlm.compiler.emit.request import EmitRequest
from castlm.compiler.emit.rewrite import RUNTIME_PACKAGE, rewrite_source
from castlm.compiler.emit.runtime_copy import runtime_files
from castlm.compiler.emit.templating import code, ident

# What ``__init__.py`` imports for itself; package_init.py.j2 uses these names.
_OWN_IMPORTS = (
    "import os as _os",
    "import threading as _threading",
    "from pathlib import Path as _Path",
    "from ._frozen import PARAMS as _PARAMS",
    "from ._runtime import LM",
    "from ._runtime._cache import LMCache as _LMCache",
    "from ._runtime._lm_factory import make_lm as _make_lm",
)


def render_package(request: EmitRequest) -> dict[str, bytes]:
    """Every file of the package, keyed by path relative to the output directory."""
    package = ident(request.package)
    local = local_module_names(request.program_path, request.local_modules)
    entry = entry_points(request.ir, request.module_class, local)
    env = templating.environment()
    files = {f"{package}/{RUNTIME_PACKAGE}/{p}": data for p, data in runtime_files().items()}
    files.update(_sources(request, local))
    files[f"{package}/_frozen.py"] = _render_frozen(env, request).encode("utf-8")
    files[f"{package}/__init__.py"] = _render_init(env, request, entry).encode("utf-8")
    files[f"{package}/py.typed"] = b""
    readme = templating.render(env, "readme.md.j2", **readme_context(request, entry))
    files["README.md"] = readme.encode("utf-8")
    pyproject = templating.render(env, "pyproject.toml.j2", **pyproject_context(request))
    files["pyproject.toml"] = pyproject.encode("utf-8")
    for path in (f"{package}/_frozen.py", f"{package}/__init__.py"):
        templating.check_python(path, files[path].decode("utf-8"))
    files[f"{package}/manifest.json"] = manifest_bytes(request, files)
    return files


def _sources(request: EmitRequest, local: Mapping[str, Path]) -> dict[str, bytes]:
    """``program.py`` and the vendored local modules, imports rewritten."""
    package = request.package
    files = {f"{package}/program.py": rewrite_source(request.program_path.read_bytes(), local)}
    for name, source in local.items():
        relative, level = module_file(name, source)
        files[f"{package}/{relative}"] = rewrite_source(source.read_bytes(), local, level)
    return files


def _render_frozen(env: jinja2.Environment, request: EmitRequest) -> str:
    return templating.render(
        env,
        "frozen.py.j2",
        cls=request.module_class,
        params=list(request.params.items()),
    )


def _render_init(env: jinja2.Environment, request: EmitRequest, entry: EntryPoints) -> str:
    own = [*_OWN_IMPORTS, *(["import asyncio as _asyncio"] if entry.is_async else [])]
    program = f"from .program import {', '.join(entry.program_names)}"
    exported = ["LM", "arun", "load", "run", *entry.exported]
    returns = f") -> {entry.returns}:"
    run_body, arun_body = _bodies(entry)
    return templating.render(
        env,
        "package_init.py.j2",
        cls=request.module_class,
        lm_name=request.lm_name,
        imports=code(import_block([*own, *entry.imports, program])),
        all_list=code(layout.bracketed("__all__ = [", _sorted_all(exported), "]")),
        run_def=code(layout.bracketed("def run(", entry.parameter_list, returns)),
        arun_def=code(layout.bracketed("async def arun(", entry.parameter_list, returns)),
        run_body=code(run_body),
        arun_body=code(arun_body),
    )


def _bodies(entry: EntryPoints) -> tuple[str, str]:
    """The statements of ``run`` and ``arun``: call forward on the shared program.

    A synchronous forward runs in a worker thread for ``arun`` (through ``Module.acall``,
    which prefers an ``aforward`` when the module has one); an async forward is awaited, or
    run to completion by ``run``.
    """
    args = entry.argument_list
    forward = "_default_program().forward("
    if entry.is_async:
        run_body = layout.bracketed(f"return _asyncio.run({forward}", args, "))", indent=1)
        return run_body, layout.bracketed(f"return await {forward}", args, ")", indent=1)
    run_body = layout.bracketed(f"return {forward}", args, ")", indent=1)
    # acall is typed Any; the annotated assignment gives arun forward's precise return type.
    acall = f"result: {entry.returns} = await _default_program().acall("
    return run_body, layout.bracketed(acall, args, ")", indent=1) + "\n    return result"


def _sorted_all(names: list[str]) -> list[str]:
    """Quoted and in isort order (constants, then classes, then the rest), as ruff wants."""
    return [f'"{name}"' for name in sorted(set(names), key=name_order)]
