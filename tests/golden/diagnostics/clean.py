# A program using every construct castlm understands: no diagnostics expected.
# castlm-target: SupportBot
from __future__ import annotations

import datetime
import enum
from typing import Annotated, Literal, Optional

import castlm as cl
from pydantic import BaseModel


class Priority(enum.Enum):
    LOW = "low"
    HIGH = "high"


class Customer(BaseModel):
    name: str
    since: datetime.date


class Triage(cl.Signature):
    """Route a customer-support ticket."""

    ticket: str = cl.InputField(desc="the customer's message")
    customer: Optional["Customer"] = cl.InputField(default=None)
    category: Literal["billing", "bug", "other"] = cl.OutputField()
    priority: Priority = cl.OutputField(desc="how fast to answer")
    tags: list[str] | None = cl.OutputField()
    scores: dict[str, Annotated[float, "0..1"]] = cl.OutputField(ge=0)


class Reply(Triage):
    """Write the reply."""

    history: tuple[str, ...] = cl.InputField(default=())
    reply: str = cl.OutputField(min_length=1)


class Lookup(cl.Signature):
    query: str = cl.InputField()
    answer: str = cl.OutputField()


class Research(cl.Module):
    def __init__(self, hops: int = 2) -> None:
        super().__init__()
        self.hops = [cl.Predict(Lookup) for _ in range(2)]

    def forward(self, query: str) -> str:
        for hop in self.hops:
            query = hop(query=query).answer
        return query


class SupportBot(cl.Module):
    """Answers tickets."""

    def __init__(self) -> None:
        super().__init__()
        self.route = cl.ChainOfThought(Triage)
        self.experts = {"billing": cl.Predict(Reply), "bug": cl.ChainOfThought(signature=Reply)}
        self.research = Research()
        self.helper = "not a predictor"

    def forward(self, ticket: str, *, customer: Customer | None = None) -> Reply:
        triage = self.route(ticket=ticket, customer=customer)
        if triage.priority is Priority.HIGH:
            print(triage.reasoning, triage.ticket, triage.model_dump())
        notes = self.research(query=triage.category)
        self.undeclared(notes)
        expert = self.experts["bug"] if triage.category == "bug" else self.experts["billing"]
        return expert(ticket=f"{ticket}\n{notes}", history=tuple(triage.tags or []))
