"""Test doubles: LMs that run offline and deterministically."""

from ._scripted import ScriptedLM

__all__ = ["ScriptedLM"]
