# castlm-target: SupportBot
from typing import Literal

import castlm as cl


class Triage(cl.Signature):
    """Route a ticket."""

    ticket: str = cl.InputField()
    category: Literal["billing", "bug"] = cl.OutputField()
    urgent: bool = cl.OutputField()


class Search(cl.Signature):
    query: str = cl.InputField()
    passage: str = cl.OutputField()


class Reply(cl.Signature):
    ticket: str = cl.InputField()
    context: list[str] = cl.InputField(default=[])
    tone: str = cl.InputField(default="neutral")
    reply: str = cl.OutputField()


class SupportBot(cl.Module):
    def __init__(self) -> None:
        super().__init__()
        self.route = cl.ChainOfThought(Triage)
        self.search = [cl.Predict(Search) for _ in range(2)]
        self.write = cl.Predict(Reply)
        self.escalate = cl.Predict(Reply)

    def forward(self, ticket: str, tone: str = "friendly") -> str:
        triage = self.route(ticket=ticket)
        passages = []
        query = f"{triage.category}: {ticket}"
        for hop in self.search:
            found = hop(query=query)
            passages.append(found.passage)
        if triage.urgent:
            tone = "urgent"
        answer = self.write(ticket=ticket, context=passages, tone=tone)
        return answer.reply
