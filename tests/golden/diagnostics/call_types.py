"""CL208 (input value of the wrong type) and CL209 (unknown keyword to an own module)."""

from typing import Literal

import castlm as cl


class Route(cl.Signature):
    """Route a ticket."""

    ticket: str = cl.InputField()
    priority: int = cl.InputField(default=1)
    tone: Literal["formal", "casual"] = cl.InputField(default="formal")
    team: str = cl.OutputField()


class Router(cl.Module):
    def __init__(self) -> None:
        self.route = cl.Predict(Route)

    def forward(self, ticket: str, priority: int = 1) -> Route:
        self.route(ticket=ticket, priority="high")
        self.route(ticket=priority, tone="rude")
        return self.route(ticket=ticket, priority=priority, tone="casual")


class Desk(cl.Module):
    def __init__(self) -> None:
        self.router = Router()

    def forward(self, ticket: str) -> str:
        self.router(tiket=ticket)
        self.router.forward(ticket, priorty=2)
        return self.router(ticket=ticket, priority=3).team
