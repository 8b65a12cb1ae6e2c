"""Contact extraction: four typed fields pulled from a voicemail or web-form note in one call."""

from __future__ import annotations

import castlm as cl


class Contact(cl.Signature):
    """Extract the contact details from a message someone left."""

    message: str = cl.InputField(desc="the message, as transcribed or typed")
    name: str = cl.OutputField(desc="the person's full name as written")
    age: int = cl.OutputField(desc="their age in years, 0 if not given")
    city: str = cl.OutputField(desc='the city they live in, "" if not given')
    callback: bool = cl.OutputField(desc="true when they ask to be called back")


class ContactExtractor(cl.Module):
    """Reads a message and fills in the caller's contact details."""

    def __init__(self) -> None:
        self.extract = cl.Predict(Contact)

    def forward(self, message: str) -> Contact:
        return self.extract(message=message)


def field_accuracy(example: cl.Example, pred: Contact, trace: object = None) -> float:
    """The share of the four fields the prediction got right (1.0 = all of them)."""
    hits: list[bool] = [
        _same(pred.name, example["name"]),
        pred.age == example["age"],
        _same(pred.city, example["city"]),
        pred.callback == example["callback"],
    ]
    return sum(hits) / len(hits)


def _same(a: str, b: str) -> bool:
    return " ".join(a.lower().split()) == " ".join(b.lower().split())
