"""Test doubles: LMs and an embedder that run offline and deterministically."""

from ._scripted import ScriptedLM
from ._standin import StandInLM
from ._standin_embed import StandInEmbedder

__all__ = ["ScriptedLM", "StandInEmbedder", "StandInLM"]
