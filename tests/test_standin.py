"""The offline stand-in model: prompt reading, rules, analogy, guesses, proposals."""

from __future__ import annotations

import datetime
import enum
import json
from typing import Any, Literal

import castlm as cl
import pytest
from castlm.lm._lm_factory import make_lm
from castlm.testing import StandInLM
from castlm.testing._standin_rules import parse_rules
from pydantic import BaseModel

Category = Literal["billing", "bug", "account"]


class Ticket(cl.Signature):
    """Classify the ticket."""

    ticket: str = cl.InputField()
    category: Category = cl.OutputField()
    urgent: bool = cl.OutputField()


class Plan(BaseModel):
    tier: Literal["free", "pro", "enterprise"]
    seats: int


class Customer(BaseModel):
    plan: Plan
    product: str
    tags: list[str] = []


class Triage(cl.Signature):
    """Triage the ticket."""

    ticket: str = cl.InputField()
    category: Category = cl.OutputField()
    customer: Customer = cl.OutputField()


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Everything(cl.Signature):
    """Fill in every field."""

    text: str = cl.InputField()
    count: int = cl.InputField()
    label: Literal["alpha", "beta"] = cl.OutputField()
    number: Literal[1, 2, 3] = cl.OutputField()
    flag: bool = cl.OutputField()
    amount: int = cl.OutputField()
    ratio: float = cl.OutputField()
    note: str = cl.OutputField(desc="the main complaint")
    maybe: str | None = cl.OutputField()
    words: list[str] = cl.OutputField()
    scores: dict[str, int] = cl.OutputField()
    pair: tuple[int, str] = cl.OutputField()
    day: datetime.date = cl.OutputField()
    when: datetime.datetime = cl.OutputField()
    color: Color = cl.OutputField()
    customer: Customer = cl.OutputField()
    customers: list[Customer] = cl.OutputField()


def predict(signature: type[cl.Signature], lm: StandInLM | None = None, **kwargs: Any) -> Any:
    return cl.Predict(signature, lm=lm or StandInLM(), **kwargs)


# -- construction and the LM interface ------------------------------------------------------


def test_factory_name_selects_the_stand_in() -> None:
    lm = make_lm("standin")
    assert isinstance(lm, StandInLM)
    assert lm.model == "standin"


def test_token_usage_is_characters_over_four() -> None:
    lm = StandInLM()
    request = lm.request([{"role": "user", "content": "x" * 40}])
    response = lm.complete(request)
    assert response.usage.prompt_tokens == 10
    assert response.usage.completion_tokens == len(response.text) // 4


def test_odd_prompts_get_a_reply_instead_of_an_error() -> None:
    lm = StandInLM()
    for messages in (
        [],
        [{"role": "user", "content": "hello"}],
        [{"role": "system", "content": "?"}],
    ):
        assert isinstance(lm.complete(lm.request(messages)).text, str)


# -- rules ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rule",
    [
        'When the ticket mentions "refund", category is billing.',
        "Tickets that mention a refund are billing.",
        'If the ticket mentions "refund", set category to billing.',
        'Category is billing when the ticket mentions "refund".',
        'If the input mentions "refund" or "chargeback", it is billing.',
    ],
)
def test_rules_in_every_form_are_followed(rule: str) -> None:
    p = predict(Ticket, instructions=f"Classify the ticket.\n{rule}")
    assert p(ticket="I want my money refunded, the crash is not my problem.").category == "billing"
    assert p(ticket="Please refund me for the bug.").category == "billing"


def test_boolean_rules_by_name_and_negation() -> None:
    rules = (
        'If the ticket mentions "cannot log in", set urgent to true.\n'
        "Tickets that mention a question are not urgent."
    )
    p = predict(Ticket, instructions=rules)
    assert p(ticket="I CANNOT log in since Monday").urgent is True
    assert p(ticket="A question about invoices").urgent is False
    # Whole words only: "login" does not mention "log in".
    urgent = [p(ticket=f"login page {i}").urgent for i in range(12)]
    assert True in urgent and False in urgent


def test_rules_reach_nested_properties_and_text_values() -> None:
    rules = (
        'If the ticket mentions "enterprise", set customer.plan.tier to enterprise.\n'
        'When the ticket mentions "iphone", product is "mobile app".'
    )
    result = predict(Triage, instructions=rules)(ticket="Enterprise user, the iPhone app froze.")
    assert result.customer.plan.tier == "enterprise"
    assert result.customer.product == "mobile app"


def test_the_first_rule_stated_wins_and_subjects_restrict_inputs() -> None:
    class TwoInputs(cl.Signature):
        subject: str = cl.InputField()
        body: str = cl.InputField()
        category: Category = cl.OutputField()

    rules = (
        'When the subject mentions "invoice", category is billing.\n'
        'When the body mentions "invoice", category is account.\n'
        'When the input mentions "invoice", category is bug.'
    )
    p = predict(TwoInputs, instructions=rules)
    assert p(subject="Invoice", body="Invoice attached").category == "billing"
    assert p(subject="Hello", body="the invoice").category == "account"


def test_sentences_that_are_not_rules_are_ignored() -> None:
    rules = parse_rules(
        "Be helpful. Always answer in English.\nWhen the ticket mentions x, y is z."
    )
    assert len(rules) == 1


# -- analogy ----------------------------------------------------------------------------------

_INPUT = "The export button crashes the desktop app every time."


def _zero_shot_category() -> str:
    category: str = predict(Ticket)(ticket=_INPUT).category
    return category


def test_a_similar_demo_lends_its_answer() -> None:
    other = next(c for c in ("billing", "bug", "account") if c != _zero_shot_category())
    demo = {"ticket": "Export button crashes the desktop app.", "category": other, "urgent": True}
    result = predict(Ticket, demos=[demo])(ticket=_INPUT)
    assert result.category == other
    assert result.urgent is True


def test_a_dissimilar_demo_does_not() -> None:
    other = next(c for c in ("billing", "bug", "account") if c != _zero_shot_category())
    demo = {"ticket": "Where is my invoice for March?", "category": other, "urgent": True}
    assert predict(Ticket, demos=[demo])(ticket=_INPUT).category == _zero_shot_category()


def test_rules_take_precedence_over_demos() -> None:
    demo = {
        "ticket": "Export button crashes the desktop app.",
        "category": "account",
        "urgent": False,
    }
    rule = 'When the ticket mentions "crash", category is bug.'
    assert predict(Ticket, instructions=rule, demos=[demo])(ticket=_INPUT).category == "bug"


def test_chain_of_thought_explains_and_copies_nested_demo_values() -> None:
    demo = {
        "ticket": "Export button crashes the desktop app.",
        "category": "bug",
        "customer": {"plan": {"tier": "pro", "seats": 3}, "product": "desktop app", "tags": []},
    }
    result = cl.ChainOfThought(Triage, lm=StandInLM(), demos=[demo])(ticket=_INPUT)
    assert result.customer.plan == Plan(tier="pro", seats=3)
    assert "earlier example" in result.model_dump()["reasoning"]


# -- guesses and formats ----------------------------------------------------------------------


@pytest.mark.parametrize("adapter", ["json", "chat"])
def test_weak_guesses_are_well_formed_for_every_type(adapter: Literal["json", "chat"]) -> None:
    lm = StandInLM()
    text = "The invoice is wrong. The main complaint is a double charge on my card."
    result = predict(Everything, lm, adapter=adapter)(text=text, count=2)
    assert lm.stats.calls == 1  # parsed at the first attempt
    assert result.note == "The main complaint is a double charge on my card."
    assert result.amount == 0 and result.day == datetime.date(2000, 1, 1)
    assert isinstance(result.customer, Customer) and len(result.customers) == 1
    assert isinstance(result.color, Color) and len(result.pair) == 2


def test_a_choice_named_in_the_input_is_the_weak_guess() -> None:
    assert predict(Ticket)(ticket="Probably a bug in the exporter").category == "bug"


def test_bounds_from_the_structured_output_schema_are_respected() -> None:
    class Bounded(cl.Signature):
        text: str = cl.InputField()
        score: int = cl.OutputField(ge=3, le=5)
        tags: list[Customer] = cl.OutputField()

    lm = StandInLM()
    assert predict(Bounded, lm)(text="hello").score == 3
    assert lm.stats.calls == 1


def test_a_retry_message_is_answered_in_format_and_within_bounds() -> None:
    class Bounded(cl.Signature):
        text: str = cl.InputField()
        score: int = cl.OutputField(ge=3, le=5)
        name: str = cl.OutputField(min_length=40)

    lm = StandInLM()
    result = predict(Bounded, lm, adapter="chat")(text="hi")  # chat prompts do not state bounds
    assert result.score == 3 and len(result.name) >= 40
    assert lm.stats.calls == 2


def test_a_retry_after_a_foreign_bad_reply_is_read() -> None:
    lm = StandInLM()
    p = predict(Ticket, lm)
    messages = [
        *p.messages(ticket="It crashed"),
        {"role": "assistant", "content": "no idea"},
        {"role": "user", "content": "Your reply could not be read: the reply has no section"},
    ]
    text = lm.complete(lm.request(messages)).text
    assert p.adapter.parse(p.spec, text)["category"] in ("billing", "bug", "account")


# -- determinism and sampling -----------------------------------------------------------------


def test_same_messages_same_reply() -> None:
    p = predict(Everything)
    request = StandInLM().request(p.messages(text="a b c", count=1))
    assert StandInLM().complete(request).text == StandInLM().complete(request).text


def test_sampling_varies_with_the_rollout_and_greedy_does_not() -> None:
    p = predict(Ticket)
    tickets = [f"Ticket number {n} about something" for n in range(8)]

    def answers(temperature: float | None, rollout: int) -> list[bool]:
        with cl.context(temperature=temperature, rollout=rollout):
            return [p(ticket=t).urgent for t in tickets]

    assert answers(None, 1) == answers(None, 2)
    assert answers(1.0, 1) != answers(1.0, 2)


# -- proposals --------------------------------------------------------------------------------

_TRAIN = [
    ("I was charged twice this month", "billing"),
    ("The invoice total is wrong, charged too much", "billing"),
    ("Please send the invoice again", "billing"),
    ("Charged after I cancelled", "billing"),
    ("The app crashes on start", "bug"),
    ("Export crashes with a blank screen", "bug"),
    ("Saving fails with an error", "bug"),
    ("An error appears when I open reports", "bug"),
    ("I forgot my password", "account"),
    ("Reset my password please", "account"),
    ("How do I change my login email", "account"),
    ("My login stopped working after the password reset", "account"),
]


class Propose(cl.Signature):
    """Write a better instruction."""

    current_instruction: str = cl.InputField()
    examples: str = cl.InputField()
    tip: str = cl.InputField(default="")
    proposed_instruction: str = cl.OutputField()


def _examples() -> str:
    rows = [{"inputs": {"ticket": t}, "expected": {"category": c}} for t, c in _TRAIN]
    return "\n".join(json.dumps(r) for r in rows)


def _accuracy(p: cl.Predict[Ticket]) -> float:
    return sum(p(ticket=t).category == c for t, c in _TRAIN) / len(_TRAIN)


def test_proposed_rules_are_followed_and_raise_accuracy() -> None:
    lm = StandInLM()
    student = cl.Predict(Ticket, lm=lm)
    before = _accuracy(student)
    proposal = cl.Predict(Propose, lm=lm)(
        current_instruction=student.instructions, examples=_examples()
    ).proposed_instruction
    assert proposal.startswith("Classify the ticket.")
    written = proposal.splitlines()[2:]
    assert written and len(parse_rules("\n".join(written))) == len(written)
    student.instructions = proposal
    assert _accuracy(student) >= 0.75
    assert _accuracy(student) > before


def test_tips_and_sampled_rollouts_give_different_proposals() -> None:
    proposer = cl.Predict(Propose, lm=StandInLM())

    def propose(tip: str = "") -> str:
        text: str = proposer(
            current_instruction="Go.", examples=_examples(), tip=tip
        ).proposed_instruction
        return text

    tips = {propose(tip) for tip in ("", "Be concise.", "Be detailed.", "Mind the edge cases.")}
    assert len(tips) >= 3
    assert len(propose("Be detailed.").splitlines()) > len(propose().splitlines())
    with cl.context(temperature=1.0, rollout=1):
        first = propose()
    with cl.context(temperature=1.0, rollout=2):
        second = propose()
    assert first != second
    assert propose() == propose()
