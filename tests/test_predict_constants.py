"""Work that is constant per signature is done once per predictor, not once per call."""

from __future__ import annotations

from typing import Any

import castlm as cl
import pytest
from castlm.testing import StandInLM
from pydantic import BaseModel


class Customer(BaseModel):
    plan: str
    product: str


class Triage(cl.Signature):
    """Triage the ticket."""

    ticket: str = cl.InputField()
    urgent: bool = cl.OutputField()
    customer: Customer = cl.OutputField()


@pytest.fixture
def schema_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the models whose JSON schema was built while the test ran."""
    calls: list[str] = []
    original = BaseModel.model_json_schema.__func__  # type: ignore[attr-defined]

    def counting(cls: type[BaseModel], *args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(cls.__name__)
        return original(cls, *args, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(BaseModel, "model_json_schema", classmethod(counting))
    return calls


@pytest.mark.parametrize("kind", [cl.Predict, cl.ChainOfThought])
def test_the_json_schema_is_built_on_the_first_call_only(
    kind: type[cl.Predict[Triage]], schema_calls: list[str]
) -> None:
    predictor = kind(Triage, adapter="json", lm=StandInLM())
    predictor(ticket="the app crashes")
    first = len(schema_calls)
    assert first >= 1  # the structured-output format needs the schema once
    for _ in range(3):
        predictor(ticket="I was charged twice")
    assert len(schema_calls) == first
    assert predictor.response_format() is predictor.response_format()


def test_the_async_path_builds_no_schema_after_the_first_call(schema_calls: list[str]) -> None:
    import asyncio

    predictor = cl.ChainOfThought(Triage, adapter="json", lm=StandInLM())

    async def calls() -> None:
        await predictor.acall(ticket="first")
        schema_calls.clear()
        await predictor.acall(ticket="second")
        await predictor.acall(ticket="third")

    asyncio.run(calls())
    assert schema_calls == []


def test_swapping_the_adapter_recomputes_the_format() -> None:
    predictor = cl.Predict(Triage, adapter="json")
    assert predictor.response_format() is not None
    predictor.adapter = cl.Predict(Triage, adapter="chat").adapter
    assert predictor.response_format() is None
