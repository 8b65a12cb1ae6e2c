"""GEPA: reflective prompt evolution with Pareto selection and merges."""

from .optimizer import GEPA
from .settings import GepaSettings

__all__ = ["GEPA", "GepaSettings"]
