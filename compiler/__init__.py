"""castlm's compiler: analyze, optimize, emit and verify language-model programs.

The command line is ``castlm``; from Python, use :func:`compile` (the same pipeline) or
:func:`optimize` (one optimizer on a program object, in-process). The names load on first
use, so ``castlm check`` and ``castlm --version`` do not import the whole pipeline.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import compile, compile_configured, optimize
    from .errors import CompileError, VerifyError
    from .optimizers import OPTIMIZERS, OptimizeResult
    from .outcome import CompileOutcome

_LAZY = {
    "compile": ".api",
    "compile_configured": ".api",
    "optimize": ".api",
    "CompileError": ".errors",
    "VerifyError": ".errors",
    "OPTIMIZERS": ".optimizers",
    "OptimizeResult": ".optimizers",
    "CompileOutcome": ".outcome",
}

__all__ = [
    "OPTIMIZERS",
    "CompileError",
    "CompileOutcome",
    "OptimizeResult",
    "VerifyError",
    "compile",
    "compile_configured",
    "optimize",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'castlm.compiler' has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
