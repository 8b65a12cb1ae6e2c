"""Customer-service pipeline: read an email into facts, then decide the action from the facts.

Two predictors with different signatures: ``ReadEmail`` extracts what went wrong, what the
customer asks for and the item concerned; ``ChooseAction`` sees only those facts (not the
email) and picks what the shop does, with a short reply to send.
"""

from __future__ import annotations

from typing import Final, Literal

import castlm as cl

Issue = Literal["damaged", "not_arrived", "wrong_item", "changed_mind", "charged_twice"]
Wants = Literal["refund", "replacement", "update"]
Action = Literal["refund", "reship", "carrier_claim", "return_label", "send_tracking"]


class ReadEmail(cl.Signature):
    """Read a customer's email to an online home-goods shop and extract the facts of the case."""

    email: str = cl.InputField(desc="the customer's email")
    issue: Issue = cl.OutputField(desc="what went wrong with the order")
    wants: Wants = cl.OutputField(desc="what the customer asks for")
    item: str = cl.OutputField(desc="the item the email is about, in a few words")


class ChooseAction(cl.Signature):
    """Decide what the shop does about a customer's case, following the returns policy, and
    write a one-sentence reply to the customer."""

    issue: Issue = cl.InputField(desc="what went wrong with the order")
    wants: Wants = cl.InputField(desc="what the customer asks for")
    item: str = cl.InputField(desc="the item concerned")
    action: Action = cl.OutputField(desc="what the shop does next")
    reply: str = cl.OutputField(desc="a one-sentence reply to the customer")


class SupportDesk(cl.Module):
    """Extracts the facts of an email, then decides the action from those facts alone."""

    def __init__(self) -> None:
        self.read: Final = cl.Predict(ReadEmail)
        self.decide: Final = cl.ChainOfThought(ChooseAction)

    def forward(self, email: str) -> ChooseAction:
        facts = self.read(email=email)
        return self.decide(issue=facts.issue, wants=facts.wants, item=facts.item)


def action_correct(example: cl.Example, pred: ChooseAction, trace: object = None) -> float:
    """1.0 when the decided action is the one the policy prescribes, else 0.0."""
    return 1.0 if pred.action == example["action"] else 0.0
