"""What castlm's modules add to their signature's result, as type checkers see it.

``ChainOfThought(Triage)`` returns a ``Triage`` that also has ``reasoning``; ``ReAct``,
``CodeAct`` and ``ProgramOfThought`` return one that also has ``trajectory`` (and the
``reasoning`` of their final step). Python's type system has no intersections, so castlm's
mypy plugin (``castlm.compiler.mypy_plugin``) types those results as a subclass of both the
signature and one of these classes. They are never instantiated. See docs/typing.md.
"""

from __future__ import annotations


class Reasoned:
    """A result carrying the ``reasoning`` a ChainOfThought step wrote first."""

    reasoning: str


class Traced(Reasoned):
    """A result carrying the agent's ``trajectory``: its thoughts, tool calls, observations."""

    trajectory: str
