"""Optimizers by name. Each is a small class; see base.py for the interface."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from ..errors import CompileError
from .base import OptimizeContext, Optimizer, OptimizeResult, Settings, Trial
from .better_together import BetterTogether
from .bootstrap import BootstrapFewShot
from .copro import Copro
from .ensemble import EnsembleOptimizer
from .finetune import BootstrapFinetune
from .gepa import GEPA
from .knn import KNNFewShot
from .labeled import LabeledFewShot
from .mipro import MIPROv2
from .random_search import RandomSearch
from .simba import Simba

OPTIMIZERS: dict[str, type[Optimizer[Any]]] = {
    cls.name: cls
    for cls in (
        LabeledFewShot,
        BootstrapFewShot,
        RandomSearch,
        Copro,
        Simba,
        KNNFewShot,
        EnsembleOptimizer,
        BootstrapFinetune,
        MIPROv2,
        GEPA,
        BetterTogether,
    )
}


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


__all__ = [
    "OPTIMIZERS",
    "BetterTogether",
    "BootstrapFewShot",
    "BootstrapFinetune",
    "Copro",
    "EnsembleOptimizer",
    "KNNFewShot",
    "LabeledFewShot",
    "OptimizeContext",
    "OptimizeResult",
    "Optimizer",
    "RandomSearch",
    "Settings",
    "Simba",
    "Trial",
    "make_optimizer",
]
