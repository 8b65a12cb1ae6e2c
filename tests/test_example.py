from __future__ import annotations

import castlm as cl
import pytest


def test_inputs_and_labels_are_told_apart() -> None:
    ex = cl.Example(question="q", answer="a").with_inputs("question")
    assert ex.inputs() == {"question": "q"}
    assert ex.labels() == {"answer": "a"}
    assert ex.answer == "a" and ex["question"] == "q"


def test_errors_are_helpful() -> None:
    ex = cl.Example(question="q", answer="a")
    with pytest.raises(ValueError, match="with_inputs"):
        ex.inputs()
    with pytest.raises(AttributeError, match="did you mean 'answer'"):
        _ = ex.anwser
    with pytest.raises(KeyError):
        ex.with_inputs("nope")
    with pytest.raises(AttributeError, match="immutable"):
        ex.answer = "b"


def test_copy_and_equality() -> None:
    ex = cl.Example(question="q", answer="a").with_inputs("question")
    assert ex.copy(answer="b").answer == "b"
    assert ex.copy(answer="b").input_keys == {"question"}
    assert ex == cl.Example(question="q", answer="a").with_inputs("question")
    assert ex.without("answer").labels() == {}
    assert cl.examples([{"q": 1, "a": 2}], inputs=["q"])[0].inputs() == {"q": 1}
