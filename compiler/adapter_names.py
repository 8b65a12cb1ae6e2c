"""How the manifest names each predictor's adapter (its prompt format)."""

from __future__ import annotations

import sys
from pathlib import Path

from castlm import Module
from castlm.core._adapter import ChatAdapter, JSONAdapter
from castlm.core._adapter_protocol import UserAdapter, class_path

from .loader import PROGRAM_MODULE_PREFIX


def adapter_names(program: Module) -> dict[str, str]:
    """``{predictor: "chat" | "json" | where the custom adapter class is}``."""
    return {name: _name(p.adapter) for name, p in program.named_predictors()}


def _name(adapter: object) -> str:
    if type(adapter) in (ChatAdapter, JSONAdapter):
        return str(getattr(adapter, "name", "?"))
    cls = type(adapter.user) if isinstance(adapter, UserAdapter) else type(adapter)
    if not cls.__module__.startswith(PROGRAM_MODULE_PREFIX):
        return class_path(cls)
    # Defined in the program file itself, which the loader imports under a private name.
    file = getattr(sys.modules.get(cls.__module__), "__file__", None)
    return f"{Path(file).name if file else 'program'}:{cls.__qualname__}"
