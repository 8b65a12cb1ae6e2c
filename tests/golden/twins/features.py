"""Every construct the twin keeps or awaits."""

from __future__ import annotations

import castlm as cl
from castlm import blocking


class Step(cl.Signature):
    """Answer."""

    question: str = cl.InputField()
    answer: str = cl.OutputField()


@cl.blocking
def lookup(key: str) -> str:
    return key


@blocking
def fetch(key: str) -> str:
    return key


def clean(text: str) -> str:
    return text.strip()


class Inner(cl.Module):
    def __init__(self) -> None:
        self.step = cl.ChainOfThought(Step)

    def forward(self, question: str) -> Step:
        return self.step(question=question)


class Features(cl.Module):
    """Predictors, a list of them, a submodule, helpers, control flow."""

    def __init__(self) -> None:
        self.first = cl.Predict(Step)
        self.hops = [cl.Predict(Step), cl.Predict(Step)]
        self.experts = {"a": cl.Predict(Step)}
        self.inner = Inner()

    def forward(self, question: str, *rest: str, depth: int = 2, **extra: str) -> Step:
        """The docstring stays."""
        answer = self.first(question=clean(question)).answer  # a comment stays
        for hop in self.hops[:depth]:
            answer = hop(question=answer).answer
        if answer:
            answer = self.experts["a"](question=lookup(answer)).answer
        else:
            answer = fetch(self._prefix() + answer)
        try:
            notes = [self.inner(question=q).answer for q in rest]
        except ValueError:
            notes = []
        total = len(notes) + len(self.predictors())
        result: Step = self.inner(
            question=f"{answer} {notes} {total} {extra}",
        )
        return result

    def _prefix(self) -> str:
        return "q: "


class Derived(Features):
    """Overrides forward: gets its own twin; inherits the other methods."""

    def forward(self, question: str, *rest: str, depth: int = 2, **extra: str) -> Step:
        result: Step = self.inner(question=self._prefix() + question)
        return result


class Written(cl.Module):
    """A hand-written aforward is kept as is."""

    def __init__(self) -> None:
        self.step = cl.Predict(Step)

    def forward(self, question: str) -> Step:
        return self.step(question=question)

    async def aforward(self, question: str) -> Step:
        return await self.step.acall(question=question)


class Unsafe(Features):
    """Falls back to a thread rather than inheriting Features' awaiting twin."""

    def forward(self, question: str, *rest: str, depth: int = 2, **extra: str) -> Step:
        def ask(q: str) -> Step:
            return self.first(question=q)

        return ask(question)
