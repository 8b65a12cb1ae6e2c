"""Agents: ReAct, CodeAct, ProgramOfThought and Refine."""
