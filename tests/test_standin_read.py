"""The stand-in model reading passages: short answers, second-hop queries, and what demos teach."""

from __future__ import annotations

from typing import Any

import castlm as cl
from castlm.testing import StandInLM

ORCHARD = "Pellow Orchard | Pellow Orchard is a cider farm founded in 1901 by Rosa Thane."
ROSA = "Rosa Thane | Rosa Thane was a gardener, born in Wickham in 1877."
WICKHAM = "Wickham | Wickham is a village in the Upper Dales. The river Ousel runs through it."
QUILL = "Quill Press | Quill Press is a printing house founded in 1890 by Jon Abel."
JON = "Jon Abel | Jon Abel was a typesetter, born in Marlow in 1862."


class Answer(cl.Signature):
    """Answer the question from the passages."""

    question: str = cl.InputField()
    context: list[str] = cl.InputField(desc="passages that may hold the answer")
    answer: str = cl.OutputField(desc="a short phrase")


class NextQuery(cl.Signature):
    """Write a search query for the fact that is still missing."""

    question: str = cl.InputField()
    context: list[str] = cl.InputField()
    query: str = cl.OutputField(desc="a short search query")


class Query(cl.Signature):
    """Write a search query."""

    question: str = cl.InputField()
    query: str = cl.OutputField()


class Summary(cl.Signature):
    """Summarize the email."""

    email: str = cl.InputField()
    summary: str = cl.OutputField(desc="a short phrase")


def ask(signature: type[cl.Signature], **kwargs: Any) -> Any:
    return cl.Predict(
        signature, lm=StandInLM(), **{k: v for k, v in kwargs.items() if k == "demos"}
    )(**{k: v for k, v in kwargs.items() if k != "demos"})


def test_a_second_hop_query_names_the_bridge_and_what_is_missing() -> None:
    query = ask(
        NextQuery, question="Where was the founder of Pellow Orchard born?", context=[ORCHARD]
    ).query
    assert query == "Rosa Thane founder born"


def test_an_answer_comes_from_the_passage_about_the_bridge() -> None:
    question = "Which river runs through the birthplace of Rosa Thane?"
    answer = ask(Answer, question=question, context=[ROSA, ORCHARD, WICKHAM]).answer
    assert answer == "Ousel"


def test_zero_shot_the_answer_is_the_longest_new_run_of_the_sentence() -> None:
    question = "What was the profession of the founder of Pellow Orchard?"
    assert ask(Answer, question=question, context=[ORCHARD, ROSA]).answer == "gardener"


def test_a_grounded_demo_teaches_the_kind_of_span_not_its_value() -> None:
    question = "In what year was the founder of Pellow Orchard born?"
    assert ask(Answer, question=question, context=[ORCHARD, ROSA]).answer != "1877"
    demo = {
        "question": "In what year was the founder of Quill Press born?",
        "context": [QUILL, JON],
        "answer": "1862",
    }
    taught = cl.ChainOfThought(Answer, lm=StandInLM(), demos=[demo])(
        question=question, context=[ORCHARD, ROSA]
    )
    assert taught.answer == "1877"
    assert "earlier example answered from its passages" in taught.reasoning


def test_a_demo_without_passages_still_shows_what_an_answer_looks_like() -> None:
    demo = {"question": "Where was the founder of Quill Press born?", "answer": "Marlow"}
    question = "Where was the founder of Pellow Orchard born?"
    assert ask(Answer, question=question, context=[ORCHARD, ROSA], demos=[demo]).answer == "Wickham"


def test_a_fixed_label_demo_is_copied_as_an_analogy() -> None:
    demo = {
        "question": "Where was the founder of Quill Press born?",
        "context": [QUILL],
        "answer": "unknown",
    }
    question = "Where was the founder of Pellow Orchard born?"
    assert ask(Answer, question=question, context=[ORCHARD], demos=[demo]).answer == "unknown"


def test_rules_take_precedence_over_reading() -> None:
    rule = 'If the question mentions "orchard", set answer to "ask the archive".'
    p = cl.Predict(Answer, lm=StandInLM(), instructions=rule)
    question = "Where was the founder of Pellow Orchard born?"
    assert p(question=question, context=[ORCHARD, ROSA]).answer == "ask the archive"


def test_a_demo_that_repeats_its_input_teaches_repeating_it() -> None:
    question = "Where was the founder of Pellow Orchard born?"
    demo = {"question": "Where was the founder of Quill Press born?"}
    demo["query"] = demo["question"]
    assert ask(Query, question=question, demos=[demo]).query == question


def test_text_without_a_passage_input_is_guessed_as_before() -> None:
    email = "The kettle arrived broken. Lid is cracked. Please send a new one."
    assert ask(Summary, email=email).summary == "The kettle arrived broken."


def test_reading_is_deterministic_and_cached_apart_from_older_stand_ins() -> None:
    question = "Which river runs through the birthplace of Rosa Thane?"
    first = ask(Answer, question=question, context=[ROSA, WICKHAM]).answer
    assert first == ask(Answer, question=question, context=[ROSA, WICKHAM]).answer
    assert StandInLM().cache_namespace.startswith("StandInLM/")
