"""Optimizers by name. Each is a small class; see base.py for the interface."""

from __future__ import annotations

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
from .registry import OPTIMIZERS, make_optimizer, register
from .simba import Simba

register(
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
