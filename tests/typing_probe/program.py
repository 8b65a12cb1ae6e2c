"""A program with eight typing mistakes, each on a line marked `# MISTAKE: <what>`.

tests/test_typing.py runs mypy --strict, pyright strict and `castlm check` on it and expects
an error on exactly the marked lines (castlm check: on those it can see without types).
"""

from __future__ import annotations

from typing import Literal

import castlm as cl


class Triage(cl.Signature):
    """Route a support ticket."""

    ticket: str = cl.InputField()
    priority: int = cl.InputField(default=1)
    category: Literal["billing", "bug"] = cl.OutputField()
    urgent: bool = cl.OutputField()


class Bot(cl.Module):
    def __init__(self) -> None:
        self.route = cl.Predict(Triage)

    def forward(self, ticket: str) -> Triage:
        self.route(tiket=ticket)  # MISTAKE: misspelled input
        self.route(ticket=ticket, priority="high")  # MISTAKE: wrong input type
        self.route()  # MISTAKE: missing input
        result = self.route(ticket=ticket, priority=2)
        print(result.categroy)  # MISTAKE: misspelled output
        count: int = result.category  # MISTAKE: wrong use of an output type
        print(count)
        return result


class App(cl.Module):
    def __init__(self) -> None:
        self.bot = Bot()

    def forward(self, ticket: str) -> bool:
        self.bot(tiket=ticket)  # MISTAKE: misspelled keyword on a module call
        self.bot.forward(tiket=ticket)  # MISTAKE: misspelled keyword on forward
        print(self.bot(ticket=ticket).urgnet)  # MISTAKE: unknown attribute on a module result
        return self.bot(ticket=ticket).urgent
