"""History: earlier turns rendered as user/assistant pairs, and bounded."""

from __future__ import annotations

import json

import castlm as cl
import pytest
from castlm.testing import ScriptedLM
from pydantic import ValidationError


class Chat(cl.Signature):
    """Continue the conversation."""

    question: str = cl.InputField()
    history: cl.History = cl.InputField()
    answer: str = cl.OutputField()


class Maybe(cl.Signature):
    """Answer, maybe with context."""

    question: str = cl.InputField()
    history: cl.History | None = cl.InputField(default=None)
    answer: str = cl.OutputField()
    sources: list[str] = cl.OutputField()


REPLY = "[[ ## answer ## ]]\nfine\n\n[[ ## completed ## ]]"


def test_turns_become_message_pairs_before_the_current_input() -> None:
    lm = ScriptedLM([REPLY])
    history = cl.History().add(question="hi", answer="hello").add(question="how?", answer="so")
    result = cl.Predict(Chat, lm=lm)(question="and now?", history=history)
    assert result.answer == "fine"
    roles = [m["role"] for m in lm.requests[0].messages]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    first_user, first_reply = lm.requests[0].messages[1:3]
    assert first_user["content"] == "[[ ## question ## ]]\nhi"
    assert first_reply["content"] == "[[ ## answer ## ]]\nhello\n\n[[ ## completed ## ]]"
    current = lm.requests[0].messages[-1]["content"]
    assert "and now?" in current and "history" not in current and "hello" not in current


def test_json_signatures_render_turns_as_json_and_history_may_be_absent() -> None:
    lm = ScriptedLM(['{"answer": "a", "sources": []}'] * 2)
    predict = cl.Predict(Maybe, lm=lm)
    predict(question="q")
    assert [m["role"] for m in lm.requests[0].messages] == ["system", "user"]
    turns = {"messages": [{"question": "q0", "answer": "a0", "sources": ["s"]}]}
    predict(question="q1", history=turns)  # a plain dict is validated into a History
    reply = lm.requests[1].messages[2]["content"]
    assert json.loads(reply) == {"answer": "a0", "sources": ["s"]}


def test_history_is_bounded_oldest_first() -> None:
    history = cl.History(max_turns=3)
    for i in range(10):
        history = history.add(question=f"q{i}", answer=f"a{i}")
    assert [t["question"] for t in history.messages] == ["q7", "q8", "q9"]
    by_size = cl.History(messages=[{"q": "x" * 40}, {"q": "y" * 40}, {"q": "z" * 40}], max_chars=90)
    assert [t["q"][0] for t in by_size.messages] == ["y", "z"]
    too_big = cl.History(messages=[{"q": "x" * 100}], max_chars=50)
    assert len(too_big) == 0
    assert len(cl.History(messages=[{"q": "x"}], max_turns=0)) == 0


def test_history_is_immutable() -> None:
    history = cl.History().add({"question": "q"}, answer="a")
    assert history.messages == [{"question": "q", "answer": "a"}]
    with pytest.raises(ValidationError):
        history.max_turns = 100
