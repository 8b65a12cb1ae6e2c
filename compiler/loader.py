"""Importing the user's program: its module class and its metric.

The program runs at compile time (optimizers call it), so it is imported like any module,
under a name unique to its path, with its folder on ``sys.path`` for its own imports. An
exception while importing is reported at the line of the user's file where it happened.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import inspect
import sys
import traceback
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from castlm import Module

from .config import Target
from .errors import CompileError

Metric = Callable[..., Any]
# The module name a program file is imported under starts with this (see import_program).
PROGRAM_MODULE_PREFIX = "castlm_program_"


def import_program(path: Path) -> types.ModuleType:
    """Import the source file at ``path`` (once per process)."""
    if not path.is_file():
        raise CompileError("program file not found; check the 'program' setting", path=path)
    name = f"{PROGRAM_MODULE_PREFIX}{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    folder = str(path.parent)
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise _import_failure(path, exc) from exc
    return module


def _import_failure(path: Path, exc: BaseException) -> CompileError:
    line = None
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if Path(frame.filename).resolve() == path.resolve():
            line = frame.lineno
            break
    if isinstance(exc, SyntaxError) and exc.lineno:
        line = exc.lineno
    return CompileError(
        f"importing the program failed: {type(exc).__name__}: {exc}", path=path, line=line
    )


def load_module_class(target: Target) -> type[Module]:
    module = import_program(target.path)
    value = _lookup(module, target, "class")
    if not (isinstance(value, type) and issubclass(value, Module)):
        raise CompileError(
            f"{target.name} is not a castlm.Module subclass; the program must be a class "
            f"deriving from castlm.Module with a forward() method",
            path=target.path,
            line=_line_of(value),
        )
    return value


def load_metric(target: Target) -> Metric:
    module = import_program(target.path)
    value = _lookup(module, target, "function")
    if not callable(value):
        raise CompileError(
            f"metric {target.name} is not callable", path=target.path, line=_line_of(value)
        )
    return check_metric_signature(value, str(target.path))


def check_metric_signature(metric: Metric, where: str) -> Metric:
    try:
        params = inspect.signature(metric).parameters
    except (TypeError, ValueError):
        return metric
    positional = [
        p for p in params.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(positional) < 2 and not any(p.kind is p.VAR_POSITIONAL for p in params.values()):
        raise CompileError(
            "a metric takes (example, prediction) and optionally trace: "
            "def metric(example, pred, trace=None) -> float | bool",
            path=where,
            line=_line_of(metric),
        )
    return metric


def _lookup(module: types.ModuleType, target: Target, kind: str) -> Any:
    if hasattr(module, target.name):
        return getattr(module, target.name)
    names = [n for n in vars(module) if not n.startswith("_")]
    close = difflib.get_close_matches(target.name, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise CompileError(f"no {kind} named {target.name!r} in the program{hint}", path=target.path)


def _line_of(value: Any) -> int | None:
    try:
        return inspect.getsourcelines(value)[1]
    except (TypeError, OSError):
        return None
