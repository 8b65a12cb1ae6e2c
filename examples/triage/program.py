"""Support-ticket triage: a category, an urgency flag and who the customer is, in one call."""

from __future__ import annotations

from typing import Final, Literal

import castlm as cl
from pydantic import BaseModel, Field

Category = Literal["billing", "bug", "account", "feature_request", "other"]


class CustomerInfo(BaseModel):
    """What the ticket tells us about the customer."""

    plan: Literal["free", "pro", "enterprise"] = Field(description="the subscription plan")
    product: str = Field(
        description='the product concerned: "mobile app", "web app", "desktop app" or "api"'
    )


class Triage(cl.Signature):
    """Triage a support ticket: pick its category, say whether it is urgent, and identify the
    customer's plan and the product the ticket is about."""

    ticket: str = cl.InputField(desc="the customer's message")
    category: Category = cl.OutputField()
    urgent: bool = cl.OutputField(
        desc="true when the customer is blocked, losing data or money, or many users are hit"
    )
    customer: CustomerInfo = cl.OutputField()


class TriageBot(cl.Module):
    """Reads a ticket and triages it, thinking step by step first."""

    def __init__(self) -> None:
        self.triage: Final = cl.ChainOfThought(Triage)

    def forward(self, ticket: str) -> Triage:
        return self.triage(ticket=ticket)


# Getting the category right matters most; the other fields route the ticket once it is known.
WEIGHTS = {"category": 0.5, "urgent": 0.2, "product": 0.2, "plan": 0.1}


def triage_score(example: cl.Example, pred: Triage, trace: object = None) -> float:
    """A weighted share of the fields the prediction got right (1.0 = all of them)."""
    expected = example["customer"]
    hits = {
        "category": pred.category == example["category"],
        "urgent": pred.urgent == example["urgent"],
        "plan": pred.customer.plan == expected["plan"],
        "product": _same(pred.customer.product, expected["product"]),
    }
    return sum(WEIGHTS[name] for name, hit in hits.items() if hit)


def _same(a: str, b: str) -> bool:
    return " ".join(a.lower().split()) == " ".join(b.lower().split())
