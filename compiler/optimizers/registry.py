"""The optimizers by name.

The package's ``__init__`` registers every optimizer class here once it has imported them.
An optimizer that builds another by name (the ensemble's base) asks this module, not the
package, which imports it: no import cycle.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from ..errors import CompileError
from .base import Optimizer

OPTIMIZERS: dict[str, type[Optimizer[Any]]] = {}


def register(*classes: type[Optimizer[Any]]) -> None:
    OPTIMIZERS.update({cls.name: cls for cls in classes})


def make_optimizer(
    name: str, options: Mapping[str, Any], origin: str | None = None
) -> Optimizer[Any]:
    if name not in OPTIMIZERS:
        close = difflib.get_close_matches(name, list(OPTIMIZERS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise CompileError(
            f"unknown optimizer {name!r}{hint}; available: {', '.join(OPTIMIZERS)}", path=origin
        )
    return OPTIMIZERS[name].from_options(options, origin)
