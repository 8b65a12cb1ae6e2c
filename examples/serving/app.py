"""An HTTP service around the compiled triage package (``examples/triage``).

The package is what ``castlm compile`` wrote to ``examples/triage/build/triage_bot``: this file
imports it like any library and needs neither castlm nor an optimizer. Run it with::

    cd examples/triage && castlm compile && cd ../..
    PYTHONPATH=examples/triage/build:examples/serving CASTLM_MODEL=openai/gpt-4o-mini \\
        uvicorn app:app --host 127.0.0.1 --port 8000

The request and response models are built from the signature's own types (``Category``,
``CustomerInfo``), and ``tests/test_serving_example.py`` checks they match ``Triage``'s fields,
so the HTTP contract cannot drift from the program's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field
from triage_bot import CastlmError, InputError, LMError, ParseError, Triage, TriageBot, load
from triage_bot.program import Category, CustomerInfo

MAX_BATCH = 64  # tickets per /batch request: bounds one request's LM calls
CONCURRENCY = 8  # LM calls in flight per /batch request


class TicketIn(BaseModel):
    """The inputs of ``TriageBot.forward``."""

    ticket: str = Field(min_length=1, max_length=20_000, description="the customer's message")


class TriageOut(BaseModel):
    """The outputs of the ``Triage`` signature."""

    category: Category
    urgent: bool
    customer: CustomerInfo

    @classmethod
    def of(cls, result: Triage) -> TriageOut:
        return cls(category=result.category, urgent=result.urgent, customer=result.customer)


class BatchIn(BaseModel):
    tickets: list[TicketIn] = Field(min_length=1, max_length=MAX_BATCH)


class BatchItem(BaseModel):
    """One ticket's result, or why it failed (the other tickets still get theirs)."""

    result: TriageOut | None = None
    error: str | None = None


class BatchOut(BaseModel):
    results: list[BatchItem]


class Health(BaseModel):
    status: str


def create_app(program: TriageBot | None = None) -> FastAPI:
    """The service; ``program`` defaults to ``load()`` (the LM from ``$CASTLM_MODEL``), made
    at startup so that a missing or wrong LM setting fails the start, not the first call."""
    bot: list[TriageBot] = [] if program is None else [program]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not bot:
            bot.append(load())
        yield

    app = FastAPI(title="triage", lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> Health:
        return Health(status="ok")

    @app.post("/predict")
    async def predict(body: TicketIn) -> TriageOut:
        try:
            return TriageOut.of(await bot[0].acall(ticket=body.ticket))
        except CastlmError as exc:
            raise _http_error(exc) from exc

    @app.post("/batch")
    async def batch(body: BatchIn) -> BatchOut:
        inputs = [ticket.model_dump() for ticket in body.tickets]
        outcomes = await bot[0].abatch(inputs, concurrency=CONCURRENCY)
        return BatchOut(
            results=[
                BatchItem(result=TriageOut.of(o.value)) if o.ok else BatchItem(error=str(o.error))
                for o in outcomes
            ]
        )

    return app


def _http_error(exc: CastlmError) -> HTTPException:
    """Bad inputs are the client's fault (422); an unreadable reply or an unreachable LM is
    the upstream model's (502); anything else is ours (500). castlm's messages never hold
    credentials, so they can be returned as they are."""
    if isinstance(exc, InputError):
        return HTTPException(422, str(exc))
    if isinstance(exc, ParseError | LMError):
        return HTTPException(502, str(exc))
    return HTTPException(500, str(exc))


app = create_app()
