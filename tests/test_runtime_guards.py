"""Guards on inputs and outputs, per predictor and per module; audit hooks on every LM call."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import castlm as cl
import pytest
from castlm import AuditRecord, GuardError, LMError
from castlm.testing import ScriptedLM

REPLY = "[[ ## answer ## ]]\nWrite to ada@example.com\n\n[[ ## completed ## ]]"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")


class Question(cl.Signature):
    """Answer."""

    question: str = cl.InputField()
    answer: str = cl.OutputField()


class RedactEmails(cl.Guard):
    """Replace e-mail addresses in every text input and output."""

    def check_inputs(self, predictor: Any, inputs: dict[str, Any]) -> dict[str, Any]:
        return {k: EMAIL.sub("[email]", v) if isinstance(v, str) else v for k, v in inputs.items()}

    def check_outputs(self, predictor: Any, outputs: dict[str, Any]) -> dict[str, Any]:
        return self.check_inputs(predictor, outputs)


class Log(cl.Guard):
    def __init__(self, name: str, seen: list[str]) -> None:
        self.name, self.seen = name, seen

    def check_inputs(self, predictor: Any, inputs: dict[str, Any]) -> dict[str, Any]:
        self.seen.append(self.name)
        return inputs


class NoEmptyQuestions(cl.Guard):
    def check_inputs(self, predictor: Any, inputs: dict[str, Any]) -> dict[str, Any]:
        if not inputs["question"].strip():
            raise GuardError("empty question")
        return inputs


class Helpdesk(cl.Module):
    def __init__(self) -> None:
        self.ask = cl.Predict(Question)
        self.inner = Inner()

    def forward(self, question: str) -> str:
        first = self.ask(question=question).answer
        second: str = self.inner(question=question)
        return first + " / " + second


class Inner(cl.Module):
    def __init__(self) -> None:
        self.ask = cl.Predict(Question)

    def forward(self, question: str) -> str:
        return self.ask(question=question).answer


@pytest.fixture
def audit() -> Iterator[list[AuditRecord]]:
    records: list[AuditRecord] = []
    remove = cl.add_audit_hook(records.append)
    yield records
    remove()


def test_a_module_guard_redacts_every_stage_before_the_lm_sees_it(
    audit: list[AuditRecord],
) -> None:
    lm = ScriptedLM([REPLY, REPLY])
    program = Helpdesk().add_guard(RedactEmails())
    program.set_lm(lm)
    answer = program(question="I am bob@corp.io, help")
    assert answer == "Write to [email] / Write to [email]"
    prompts = [r.messages[-1]["content"] for r in lm.requests]
    assert len(prompts) == 2 and all("bob@corp.io" not in p and "[email]" in p for p in prompts)
    assert len(audit) == 2 and all("bob@corp.io" not in str(a.request) for a in audit)
    assert "ada@example.com" in audit[0].response.text  # type: ignore[union-attr]


def test_guards_run_outer_module_first_and_can_reject() -> None:
    seen: list[str] = []
    program = Helpdesk().add_guard(Log("module", seen))
    program.inner.add_guard(Log("inner", seen))
    program.inner.ask.add_guard(Log("predictor", seen))
    program.set_lm(ScriptedLM([REPLY] * 2))
    program(question="q")
    assert seen == ["module", "module", "inner", "predictor"]
    lm = ScriptedLM([REPLY])
    guarded = cl.Predict(Question, lm=lm).add_guard(NoEmptyQuestions())
    with pytest.raises(GuardError, match="empty question"):
        guarded(question="  ")
    assert lm.requests == []


def test_audit_sees_cache_hits_errors_and_streams(audit: list[AuditRecord]) -> None:
    lm = ScriptedLM([REPLY, REPLY], cache=cl.LMCache())
    predict = cl.Predict(Question, lm=lm)
    predict(question="q")
    predict(question="q")
    list(predict.stream(question="other"))
    with pytest.raises(LMError):
        predict(question="a third, with no reply left")
    assert [a.cached for a in audit] == [False, True, False, False]
    assert all(a.predictor is predict and a.lm is lm for a in audit)
    assert audit[3].response is None and isinstance(audit[3].error, LMError)
    assert audit[1].seconds < 1.0


def test_audit_hooks_can_be_removed() -> None:
    records: list[AuditRecord] = []
    remove = cl.add_audit_hook(records.append)
    lm = ScriptedLM([REPLY, REPLY])
    cl.Predict(Question, lm=lm)(question="q")
    remove()
    cl.Predict(Question, lm=lm)(question="q")
    assert len(records) == 1
