"""What castlm's modules add to their signature's result, as type checkers see it.

``ChainOfThought(Triage)`` returns a ``Triage`` that also has ``reasoning``; ``ReAct``,
``CodeAct`` and ``ProgramOfThought`` return one that also has ``trajectory`` (and the
``reasoning`` of their final step). Python's type system has no intersections, so castlm's
mypy plugin (``castlm.compiler.mypy_plugin``) types those results as a subclass of both the
signature and one of these classes (never instantiated). pyright has no plugins:
:func:`reasoning_of` and :func:`trajectory_of` read the same attributes, typed ``str``, in
both checkers and without a plugin. See docs/typing.md.
"""

from __future__ import annotations

from ..base._errors import CastlmError


class Reasoned:
    """A result carrying the ``reasoning`` a ChainOfThought step wrote first."""

    reasoning: str


class Traced(Reasoned):
    """A result carrying the agent's ``trajectory``: its thoughts, tool calls, observations."""

    trajectory: str


def reasoning_of(result: object) -> str:
    """The ``reasoning`` of a ChainOfThought (or agent) result, typed ``str`` for any checker."""
    return _text(result, "reasoning", "ChainOfThought, ReAct, CodeAct and ProgramOfThought")


def trajectory_of(result: object) -> str:
    """The ``trajectory`` of a ReAct, CodeAct or ProgramOfThought result."""
    return _text(result, "trajectory", "ReAct, CodeAct and ProgramOfThought")


def _text(result: object, name: str, makers: str) -> str:
    value = getattr(result, name, None)
    if not isinstance(value, str):
        raise CastlmError(
            f"{type(result).__name__} has no {name}: only the results of {makers} carry one; "
            f"call this on what such a module returned"
        )
    return value
