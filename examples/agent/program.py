"""A ReAct agent that answers questions with three typed tools.

``calculate`` evaluates arithmetic, ``convert_units`` converts lengths, masses, volumes and
temperatures, and ``lookup_country`` reads a small table of facts about countries (all in
``tools.py``). The agent reasons, calls tools, reads their observations, and then answers.
"""

from __future__ import annotations

import re
from typing import Final

import castlm as cl
from tools import calculate, convert_units, lookup_country


class Question(cl.Signature):
    """Answer the question. Use the tools for arithmetic, unit conversions and facts about
    countries; answer with a number or a short phrase."""

    question: str = cl.InputField()
    answer: str = cl.OutputField(desc="the answer: a number or a short phrase")


class Assistant(cl.Module):
    """One ReAct agent over the three tools, at most four tool calls per question."""

    def __init__(self) -> None:
        self.agent: Final = cl.ReAct(
            Question, tools=[calculate, convert_units, lookup_country], max_iters=4
        )

    def forward(self, question: str) -> Question:
        return self.agent(question=question)


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def answer_correct(example: cl.Example, pred: Question, trace: object = None) -> float:
    """1.0 when the answer matches: numbers within 1% (the first number in the answer), text
    ignoring case and surrounding words."""
    expected = str(example["answer"]).strip()
    got = pred.answer.strip()
    if _NUMBER.fullmatch(expected):
        found = _NUMBER.search(got.replace(",", ""))
        if found is None:
            return 0.0
        want, value = float(expected), float(found.group())
        return 1.0 if abs(value - want) <= max(abs(want) * 0.01, 1e-6) else 0.0
    return 1.0 if expected.lower() in got.lower() else 0.0
