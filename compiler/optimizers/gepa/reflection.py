"""Reflective mutation: the prompt model reads a minibatch's traces and feedback and rewrites
one predictor's instruction.

For each example of the minibatch, the reflection sees what the predictor was given, what it
answered, the labels the example has for the predictor's outputs, and the metric's feedback:
the text for this predictor when the metric returned feedback per predictor, else its
general feedback, else the score. The question asked is gepa's (``prompts.py``); it goes
through the shared ``ask``, so reflections are cached, counted and traced like every LM call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import castlm as cl
from castlm import LM, LMError, Module, ParseError

from ..propose import Evidence
from .prompts import reflect
from .rollouts import Outcome


@dataclass
class Reflector:
    lm: LM
    student: Module
    temperature: float | None
    template: str | None = None  # the user's prompt_template, if any
    calls: int = 0  # reflection calls made (one proposal each)
    errors: list[str] = field(default_factory=list)  # reflection calls that failed

    def rewrite(self, name: str, current: str, outcomes: Sequence[Outcome], rollout: int) -> str:
        """A new instruction for predictor ``name`` (``current`` if nothing better comes)."""
        predictor = self.student.predictor(name)
        self.calls += 1
        try:
            return reflect(
                self.lm,
                current,
                evidence(name, predictor, outcomes),
                template=self.template,
                temperature=self.temperature,
                rollout=rollout,
            )
        except (LMError, ParseError) as exc:  # a failed reflection changes nothing
            self.errors.append(f"{type(exc).__name__}: {exc}")
            return current


def evidence(name: str, predictor: cl.Predict[Any], outcomes: Sequence[Outcome]) -> list[Evidence]:
    """What the reflection is shown about predictor ``name``, one record per call."""
    fields = predictor.spec.fields
    outputs = {f for f, spec in fields.items() if spec.role == "output"}
    records = []
    for outcome in outcomes:
        labels = {k: v for k, v in outcome.example.labels().items() if k in outputs}
        text = feedback_for(name, outcome)
        calls = [s for s in outcome.steps if s.predictor == name]
        if not calls:  # the run failed before reaching this predictor
            inputs = {k: v for k, v in outcome.example.inputs().items() if k in fields}
            records.append(Evidence(inputs, labels, None, text))
        for step in calls:
            records.append(Evidence(step.inputs, labels, step.outputs, text))
    return records


def feedback_for(name: str, outcome: Outcome) -> str:
    """This predictor's feedback, the run's feedback, or the score as feedback."""
    feedback = outcome.feedback
    if isinstance(feedback, dict):
        feedback = feedback.get(name) or "; ".join(f"{k}: {v}" for k, v in feedback.items())
    if feedback:
        return feedback
    return f"This run scored {outcome.score:g}."
