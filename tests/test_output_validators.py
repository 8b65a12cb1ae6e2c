"""Signature validators run on LM outputs; a rejection is retried, then a ParseError."""

from __future__ import annotations

import asyncio
from typing import Self

import castlm as cl
import pytest
from castlm import ConfigurationError, ParseError
from castlm.testing import ScriptedLM
from pydantic import field_validator, model_validator


class Answer(cl.Signature):
    """Answer with a lowercase word and a score."""

    question: str = cl.InputField()
    word: str = cl.OutputField()
    score: int = cl.OutputField(ge=0)

    @field_validator("word")
    @classmethod
    def _lowercase(cls, value: str) -> str:
        if value != value.lower():
            raise ValueError("the word must be lowercase")
        return value.strip()

    @model_validator(mode="after")
    def _not_the_question(self) -> Self:
        if self.word == self.question:
            raise ValueError("do not repeat the question")
        return self


def reply(word: str, score: int) -> str:
    return f"[[ ## word ## ]]\n{word}\n\n[[ ## score ## ]]\n{score}\n\n[[ ## completed ## ]]"


def test_a_reply_a_field_validator_rejects_is_retried_with_its_message() -> None:
    lm = ScriptedLM([reply("Paris", 1), reply("paris", 1)])
    result = cl.Predict(Answer, lm=lm)(question="capital?")
    assert result.word == "paris"
    retry = lm.requests[1].messages
    assert retry[-2] == {"role": "assistant", "content": reply("Paris", 1)}
    assert "the word must be lowercase" in retry[-1]["content"]


def test_a_model_validator_runs_on_outputs_with_the_inputs() -> None:
    lm = ScriptedLM([reply("same", 1), reply("other", 1)])
    assert cl.Predict(Answer, lm=lm)(question="same").word == "other"
    assert "do not repeat the question" in lm.requests[1].messages[-1]["content"]


def test_a_reply_still_rejected_after_the_retries_is_a_parse_error() -> None:
    lm = ScriptedLM([reply("Paris", 1), reply("PARIS", 1)])
    with pytest.raises(ParseError) as info:
        cl.Predict(Answer, lm=lm)(question="capital?")
    assert "even after one retry" in str(info.value)
    assert "the word must be lowercase" in str(info.value)
    assert info.value.raw == reply("PARIS", 1)
    assert len(lm.requests) == 2


def test_constraints_reject_outputs_too() -> None:
    lm = ScriptedLM([reply("paris", -1), reply("paris", 3)])
    assert cl.Predict(Answer, lm=lm)(question="capital?").score == 3
    assert "greater than or equal to 0" in lm.requests[1].messages[-1]["content"]


def test_chain_of_thought_runs_the_validators_of_the_signature() -> None:
    cot = "[[ ## reasoning ## ]]\nhm\n\n"
    lm = ScriptedLM([cot + reply("Paris", 1), cot + reply("paris", 1)])
    assert cl.ChainOfThought(Answer, lm=lm)(question="capital?").word == "paris"


def test_parse_retries_is_a_setting() -> None:
    lm = ScriptedLM([reply("A", 1), reply("B", 1), reply("c", 1)])
    assert cl.Predict(Answer, lm=lm, parse_retries=2)(question="q").word == "c"
    assert len(lm.requests) == 3
    none = ScriptedLM([reply("A", 1)])
    with pytest.raises(ParseError, match="could not be parsed: invalid output values"):
        cl.Predict(Answer, lm=none, parse_retries=0)(question="q")
    assert len(none.requests) == 1


def test_parse_retries_must_be_a_count() -> None:
    with pytest.raises(ConfigurationError, match="parse_retries must be an int >= 0"):
        cl.Predict(Answer, parse_retries=-1)


def test_async_and_streamed_calls_run_the_validators() -> None:
    lm = ScriptedLM([reply("Paris", 1), reply("paris", 1)])
    assert asyncio.run(cl.Predict(Answer, lm=lm).acall(question="q")).word == "paris"
    lm = ScriptedLM([reply("Paris", 1), reply("paris", 1)])
    events = list(cl.Predict(Answer, lm=lm).stream(question="q"))
    done = events[-1]
    assert isinstance(done, cl.Done)
    assert done.result.word == "paris"
