"""Test doubles: LMs that run offline and deterministically."""

from ._scripted import ScriptedLM
from ._standin import StandInLM

__all__ = ["ScriptedLM", "StandInLM"]
