"""MIPROv2: demo sets, grounded instruction proposals and a Bayesian search over both."""

from .optimizer import MIPROv2
from .settings import MiproSettings

__all__ = ["MIPROv2", "MiproSettings"]
