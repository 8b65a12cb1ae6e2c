"""News-headline topic classification: one label from five, in one call."""

from __future__ import annotations

from typing import Literal

import castlm as cl

Section = Literal["business", "sports", "science", "politics", "entertainment"]


class Topic(cl.Signature):
    """Classify a news headline into its section."""

    headline: str = cl.InputField(desc="a news headline")
    topic: Section = cl.OutputField()


class NewsClassifier(cl.Module):
    """Reads a headline and names the section it belongs in."""

    def __init__(self) -> None:
        self.classify = cl.Predict(Topic)

    def forward(self, headline: str) -> Topic:
        return self.classify(headline=headline)


def accuracy(example: cl.Example, pred: Topic, trace: object = None) -> float:
    """1.0 when the predicted section is the labelled one, else 0.0."""
    return 1.0 if pred.topic == example["topic"] else 0.0
