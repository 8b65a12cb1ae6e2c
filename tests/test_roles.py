"""The task, teacher and prompt LMs each serve their own role, in every optimizer and phase.

Three stand-ins with different model names and cache namespaces record which predictor
(signature) each request came from, so a test can tell which LM served which calls.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Literal

import castlm as cl
import pytest
from castlm import LMCache, LMRequest, LMResponse
from castlm.compiler import pipeline
from castlm.compiler.budget import Budget, BudgetExhausted
from castlm.compiler.config import load_config_file
from castlm.compiler.errors import CompileError
from castlm.compiler.evaluate import Evaluator
from castlm.compiler.meter import role_lms
from castlm.compiler.optimizers import OPTIMIZERS, OptimizeContext, make_optimizer
from castlm.compiler.pricing import PriceBook
from castlm.observe._instrument import _caller
from castlm.testing import StandInLM
from support.project import rows, write_project

TEACHER, PROMPTER = "openai/teacher-model", "openai/prompt-model"


class RoleLM(StandInLM):
    """A stand-in under its own model name and cache namespace that records its callers."""

    def __init__(self, name: str, cache: LMCache | None = None) -> None:
        super().__init__(model=name, cache=cache)
        self.callers: list[str] = []

    @property
    def cache_namespace(self) -> str:
        return f"role:{self.model}"

    def _send(self, request: LMRequest) -> LMResponse:
        caller = _caller.get()
        self.callers.append(caller.spec.name if caller is not None else "(direct)")
        return super()._send(request)


class Sentiment(cl.Signature):
    """Classify the sentiment of a product review."""

    review: str = cl.InputField()
    label: Literal["positive", "negative", "mixed"] = cl.OutputField()


class Reviewer(cl.Module):
    def __init__(self) -> None:
        self.classify = cl.Predict(Sentiment)

    def forward(self, review: str) -> Sentiment:
        return self.classify(review=review)


def accuracy(example: cl.Example, pred: Sentiment, trace: object = None) -> float:
    return float(pred.label == example["label"])


TRAIN = [cl.Example(r).with_inputs("review") for r in rows(12)]
# Options that keep an optimizer offline (no fine-tuning job: only its training data).
OFFLINE: dict[str, dict[str, Any]] = {
    "finetune": {"export_only": True},
    "better_together": {"weight_options": {"export_only": True}},
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_keeps_each_lm_to_its_role(name: str) -> None:
    task, teacher, prompter = RoleLM("task"), RoleLM("teacher"), RoleLM("prompter")
    budget = Budget(max_calls=400)  # bounds the test, whatever an optimizer's defaults
    budget.install([task, teacher, prompter])
    ctx = OptimizeContext(task, Evaluator(accuracy, threads=4), accuracy, teacher, prompter)
    ctx.threads = 4
    student = Reviewer()
    student.set_lm(task)
    with contextlib.suppress(BudgetExhausted):
        try:
            optimizer = make_optimizer(name, OFFLINE.get(name, {}))
            optimizer.compile(student, trainset=TRAIN, valset=TRAIN, ctx=ctx)
        except CompileError as exc:  # e.g. an optimizer that needs an endpoint of its own
            if isinstance(exc, BudgetExhausted):
                raise
            pytest.skip(f"{name} cannot run offline here: {exc}")
    program = {"Sentiment"}
    # The program's own prompts go to the task or teacher LM, never to the prompt LM ...
    assert not program & set(prompter.callers), prompter.callers
    # ... and everything else (proposals, summaries, reflections) only to the prompt LM.
    for lm in (task, teacher):
        assert set(lm.callers) <= program, (lm.model, set(lm.callers))


def test_bootstrap_runs_the_teacher_on_the_teacher_lm() -> None:
    task, teacher, prompter = RoleLM("task"), RoleLM("teacher"), RoleLM("prompter")
    ctx = OptimizeContext(task, Evaluator(accuracy), accuracy, teacher, prompter)
    student = Reviewer()
    student.set_lm(task)
    make_optimizer("bootstrap", {"max_labeled_demos": 2}).compile(
        student, trainset=TRAIN, valset=TRAIN, ctx=ctx
    )
    assert teacher.callers and not task.callers and not prompter.callers


def test_proposals_go_to_the_prompt_lm() -> None:
    from castlm.compiler.optimizers.copro_prompts import copro_propose
    from castlm.compiler.optimizers.propose import evidence_from

    task, prompter = RoleLM("task"), RoleLM("prompter")
    ctx = OptimizeContext(task, Evaluator(accuracy), accuracy, prompt_lm=prompter)
    predictor = Reviewer().classify
    proposal = copro_propose(
        ctx.prompter,
        predictor,
        evidence_from(TRAIN, predictor),
        attempts=(),
        tip="",
        program_doc="",
        template=None,
        temperature=None,
        rollout=0,
    )
    assert proposal and prompter.callers == ["CoproPropose"] and not task.callers


def test_roles_sharing_an_lm_are_counted_once() -> None:
    task, prompt = RoleLM("task"), RoleLM("prompt")
    named: dict[str, tuple[str, Any]] = {
        "task": ("standin", task),
        "teacher": ("standin", task),
        "prompt": (PROMPTER, prompt),
    }
    grouped = role_lms(named, PriceBook())
    assert [(r.roles, r.name) for r in grouped] == [
        ("task+teacher", "standin"),
        ("prompt", PROMPTER),
    ]
    assert grouped[0].price == (0.0, 0.0) and grouped[1].price is None


def test_a_compile_uses_each_configured_lm_for_its_role(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_project(
        tmp_path / "p",
        extra=f'teacher_lm = "{TEACHER}"\nprompt_lm = "{PROMPTER}"\n',
        options={"max_labeled_demos": 2},
    )
    made: dict[str, RoleLM] = {}

    def make_lm(name: str, **kwargs: Any) -> RoleLM:
        made[name] = RoleLM(name, kwargs.get("cache"))
        return made[name]

    monkeypatch.setattr(pipeline, "make_lm", make_lm)
    (config,) = load_config_file(root / "castlm.toml", {"verify": False})
    outcome = pipeline.compile_program(config, force=True)
    task, teacher, prompter = made["standin"], made[TEACHER], made[PROMPTER]
    phases = {p.name: p for p in outcome.phases}
    uses = {p.name: {u.roles: u.calls for u in p.by_lm} for p in outcome.phases}
    assert uses["baseline"] == {"task": 6, "teacher": 0, "prompt": 0}
    assert uses["compiled"] == {"task": 6, "teacher": 0, "prompt": 0}
    assert uses["optimize"]["task"] == 0 and uses["optimize"]["teacher"] > 0
    assert phases["optimize"].calls == len(teacher.callers)
    assert len(task.callers) == 12 and not prompter.callers
    assert [r["roles"] for r in outcome.to_json()["lms"]] == ["task", "teacher", "prompt"]
    # Each LM caches under its own namespace: a second compile is answered by the cache.
    made.clear()
    again = pipeline.compile_program(config, force=True)
    assert again.lm_calls == 0 and again.cache_hits == outcome.lm_calls
