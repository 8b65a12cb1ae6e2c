"""Adapters: prompt rendering and reply parsing for both formats."""

from __future__ import annotations

from typing import Literal

import castlm as cl
import pytest
from castlm import ParseError, spec_of
from castlm.core._adapter import CHAT, JSON, choose, format_value, header
from castlm.testing._standin_prompt import split_labeled
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel


class Triage(cl.Signature):
    """Route the ticket."""

    ticket: str = cl.InputField(desc="the message")
    category: Literal["billing", "bug"] = cl.OutputField()
    urgent: bool = cl.OutputField()
    priority: int = cl.OutputField(ge=1, le=3)


class Address(BaseModel):
    city: str
    zip_code: str


class Extract(cl.Signature):
    text: str = cl.InputField()
    address: Address = cl.OutputField()
    tags: list[str] = cl.OutputField()


SPEC = spec_of(Triage)
GOOD = (
    "[[ ## category ## ]]\nbilling\n\n[[ ## urgent ## ]]\ntrue\n\n"
    "[[ ## priority ## ]]\n2\n\n[[ ## completed ## ]]"
)


def test_system_prompt_lists_fields_format_and_instructions_last() -> None:
    system = CHAT.system(SPEC, "Be careful.")
    assert system.startswith("Inputs:\n- `ticket` (string): the message")
    assert '- `category` (one of: "billing", "bug")' in system
    assert system.endswith("Instructions:\nBe careful.")


def test_demos_become_message_pairs() -> None:
    demos = [{"ticket": "refund please", "category": "billing", "urgent": False, "priority": 1}]
    messages = CHAT.prefix(SPEC, "x", demos)
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]
    assert messages[1]["content"] == "[[ ## ticket ## ]]\nrefund please"
    assert "[[ ## urgent ## ]]\nfalse" in messages[2]["content"]
    assert messages[2]["content"].endswith(header("completed"))


def test_json_calls_look_like_their_demos() -> None:
    # A small model copies the demonstrations' shape: the call's own message must have the
    # same shape (no field markers, no reminder only it carries).
    demos = [{"ticket": "refund please", "category": "billing", "urgent": False, "priority": 1}]
    demo_user = JSON.prefix(SPEC, "x", demos)[1]["content"]
    call_user = JSON.user_message(SPEC, {"ticket": "app crashes"}, JSON.suffix(SPEC))["content"]
    assert demo_user == "ticket: refund please"
    assert call_user == "ticket: app crashes"
    assert CHAT.user_message(SPEC, {"ticket": "t"}, CHAT.suffix(SPEC))["content"].endswith(
        CHAT.reminder(SPEC)
    )


@given(st.lists(st.text(), min_size=2, max_size=2))
def test_labeled_inputs_read_back(values: list[str]) -> None:
    fields = spec_of(Extract).inputs + SPEC.inputs
    text = JSON.input_content(fields, {"text": values[0], "ticket": values[1]})
    assert isinstance(text, str)
    read = split_labeled(text, ["text", "ticket"])
    if "\nticket: " not in values[0]:  # a value that forges the next label is ambiguous
        assert read == {"text": values[0], "ticket": values[1]}


def test_chat_parse_typed_values() -> None:
    assert CHAT.parse(SPEC, GOOD) == {"category": "billing", "urgent": True, "priority": 2}


def test_chat_parse_tolerates_case_quotes_and_chatter() -> None:
    reply = (
        "Sure!\n[[ ## category ## ]]\n'Billing'\n[[ ## urgent ## ]]\nYes\n[[ ## priority ## ]]\n3"
    )
    assert CHAT.parse(SPEC, reply) == {"category": "billing", "urgent": True, "priority": 3}


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ("no headers at all", "no [[ ## category ## ]]"),
        (GOOD.replace("billing", "shipping"), "category"),
        (GOOD.replace("\n2\n", "\n7\n"), "priority"),
    ],
)
def test_chat_parse_errors_carry_the_raw_reply(reply: str, message: str) -> None:
    with pytest.raises(ParseError) as info:
        CHAT.parse(SPEC, reply)
    assert message in str(info.value)
    assert info.value.raw == reply


def test_structured_outputs_choose_json_with_response_format() -> None:
    spec = spec_of(Extract)
    assert choose(spec, "auto") is JSON
    assert choose(SPEC, "auto") is CHAT
    fmt = JSON.response_format(spec)
    assert fmt is not None and fmt["type"] == "json_schema"
    assert "address" in fmt["json_schema"]["schema"]["properties"]


def test_json_parse_accepts_fences_and_prose() -> None:
    spec = spec_of(Extract)
    reply = 'Here:\n```json\n{"address": {"city": "Oslo", "zip_code": "0150"}, "tags": ["a"]}\n```'
    parsed = JSON.parse(spec, reply)
    assert parsed["address"] == Address(city="Oslo", zip_code="0150")
    assert parsed["tags"] == ["a"]


def test_json_parse_errors() -> None:
    spec = spec_of(Extract)
    with pytest.raises(ParseError, match="not a JSON object"):
        JSON.parse(spec, "nothing here")
    with pytest.raises(ParseError, match='no key "tags"'):
        JSON.parse(spec, '{"address": {"city": "a", "zip_code": "b"}}')


def test_format_value_writes_text_verbatim_and_the_rest_as_json() -> None:
    fields = spec_of(Extract).fields
    assert format_value(fields["text"], 'He said "hi"') == 'He said "hi"'
    assert format_value(fields["tags"], ["x", "ü"]) == '["x", "ü"]'
    assert (
        format_value(fields["address"], Address(city="a", zip_code="b"))
        == '{"city": "a", "zip_code": "b"}'
    )
