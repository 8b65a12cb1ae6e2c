"""Step 2 of MIPROv2: instruction candidates grounded in the data, the program and demos.

Each proposal shows the prompt model (``ctx.prompter``) what DSPy's grounded proposer shows:
a summary of the dataset (the prompt model describes batches of training examples, then
summarises its observations), a description of the program and of the step, up to 3
bootstrapped demos of the step and a random style tip. The instruction itself comes from the
shared proposer (``propose.py``). Unlike DSPy, castlm also shows ``proposal_examples``
labeled training examples (a different sample per proposal), so a model that cannot act on a
prose summary still grounds its rules in data; batches are described, and proposals made,
in parallel; and slot 0 keeps the original instruction without a proposal being spent on it.
"""

from __future__ import annotations

import inspect
import json
import random
import textwrap
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import castlm as cl
from castlm import LM, Example, LMError, Module, ParseError

from ..base import OptimizeContext
from ..parallel import parallel_map
from ..propose import TIPS, Evidence, evidence_from, propose
from .demosets import DemoSet

MAX_BATCHES = 10  # dataset batches described at most (DSPy looks at a bounded prefix too)
MAX_FEWSHOT = 3  # bootstrapped demos shown with a proposal
MAX_SOURCE = 3000  # characters of program source shown to the prompt model


class DescribeExamples(cl.Signature):
    """You are shown a batch of examples from a dataset. Write down what you observe: what
    the inputs are about and how they are written, what the labels are, and what seems to
    decide them. Be specific and brief; do not restate single examples."""

    examples: str = cl.InputField(desc="one JSON object per line")
    observations: str = cl.OutputField(desc="a few sentences of observations")


class SummarizeDataset(cl.Signature):
    """You are given observations about batches of one dataset. Summarise the dataset in a few
    sentences: its topic, the form of its inputs and labels, and the patterns that matter for
    predicting the labels."""

    observations: str = cl.InputField(desc="observations, one batch per paragraph")
    summary: str = cl.OutputField(desc="a short summary of the dataset")


@dataclass(frozen=True)
class Grounding:
    """What every proposal of one compile shares."""

    program: str  # the program's description ("" when program_aware is off)
    dataset: str  # the dataset summary ("" when data_aware is off)
    failures: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProposalPlan:
    count: int  # instruction candidates per predictor, the original included
    proposal_examples: int
    temperature: float
    seed: int
    program_aware: bool = True
    tip_aware: bool = True
    fewshot_aware: bool = True


def summarize_dataset(
    lm: LM, trainset: Sequence[Example], batch_size: int, threads: int
) -> tuple[str, list[str]]:
    """The prompt model's summary of the training data, and the errors of failed calls."""
    rows = [json.dumps(ex.to_dict(), ensure_ascii=False, default=str) for ex in trainset]
    batches = [rows[i : i + batch_size] for i in range(0, len(rows), batch_size)][:MAX_BATCHES]
    describe = cl.Predict(DescribeExamples, lm=lm)
    errors: list[str] = []

    def observe(batch: list[str]) -> str:
        try:
            return describe(examples="\n".join(batch)).observations.strip()
        except (LMError, ParseError) as exc:  # a failed call loses one batch, not the compile
            errors.append(f"dataset description: {type(exc).__name__}: {exc}")
            return ""

    observations = [o for o in parallel_map(observe, batches, threads) if o]
    if not observations:
        return "", errors
    try:
        summary = cl.Predict(SummarizeDataset, lm=lm)(observations="\n\n".join(observations))
    except (LMError, ParseError) as exc:
        errors.append(f"dataset summary: {type(exc).__name__}: {exc}")
        return "\n".join(observations), errors
    return summary.summary.strip(), errors


def describe_program(student: Module) -> str:
    """The program's docstring and the source of its ``forward`` (what DSPy calls its code)."""
    cls = type(student)
    parts = [f"{cls.__name__}: {inspect.getdoc(cls) or ''}".strip()]
    try:
        source = textwrap.dedent(inspect.getsource(cls.forward))
    except (OSError, TypeError):  # defined in a REPL or generated: the docstring must do
        source = ""
    if source:
        parts.append("Its forward method:\n" + source[:MAX_SOURCE])
    return "\n".join(parts)


def describe_step(name: str, predictor: cl.Predict[Any]) -> str:
    doc = predictor.spec.instructions.strip()
    return f"This step is `{name}`, a {type(predictor).__name__} over {predictor.spec.name}: {doc}"


def propose_all(
    student: Module,
    trainset: Sequence[Example],
    demo_sets: Sequence[DemoSet],
    grounding: Grounding,
    ctx: OptimizeContext,
    plan: ProposalPlan,
) -> tuple[dict[str, list[str]], list[str]]:
    """Instruction candidates per predictor (slot 0: the original), and failed proposals."""
    named = student.named_predictors()
    jobs = [(name, slot) for name, _ in named for slot in range(1, plan.count)]
    predictors = dict(named)
    failures: list[str] = []
    shared = _Shared(trainset, demo_sets, grounding, ctx.prompter, plan)
    ctx.progress.start("mipro: proposals", len(jobs))

    def one(job: tuple[str, int]) -> str | None:
        name, slot = job
        try:
            return _propose_one(name, predictors[name], slot, shared)
        except (LMError, ParseError) as exc:  # one failed proposal costs one candidate
            failures.append(f"proposal {slot} for {name}: {type(exc).__name__}: {exc}")
            return None
        finally:
            ctx.progress.advance()

    try:
        proposals = parallel_map(one, jobs, ctx.threads)
    finally:
        ctx.progress.finish()
    found: dict[str, list[str]] = {name: [p.instructions] for name, p in named}
    for (name, _), text in zip(jobs, proposals, strict=True):
        if text and text not in found[name]:  # a duplicate would only waste trials
            found[name].append(text)
    return found, failures


@dataclass(frozen=True)
class _Shared:
    trainset: Sequence[Example]
    demo_sets: Sequence[DemoSet]
    grounding: Grounding
    lm: LM
    plan: ProposalPlan


def _propose_one(name: str, predictor: cl.Predict[Any], slot: int, shared: _Shared) -> str:
    plan, grounding, trainset = shared.plan, shared.grounding, shared.trainset
    rng = random.Random(plan.seed ^ zlib.crc32(f"{name}/{slot}".encode()))
    tip = TIPS[rng.choice(sorted(TIPS))] if plan.tip_aware else ""
    evidence = _fewshot(name, predictor, slot, shared.demo_sets) if plan.fewshot_aware else []
    k = min(plan.proposal_examples, len(trainset))
    evidence += evidence_from(rng.sample(list(trainset), k), predictor)
    about = [
        grounding.program if plan.program_aware else "",
        describe_step(name, predictor) if plan.program_aware else "",
        f"The data: {grounding.dataset}" if grounding.dataset else "",
    ]
    return propose(
        shared.lm,
        predictor,
        evidence,
        tip=tip,
        program_doc="\n".join(a for a in about if a),
        temperature=plan.temperature,
        rollout=slot,
    )


def _fewshot(
    name: str, predictor: cl.Predict[Any], slot: int, demo_sets: Sequence[DemoSet]
) -> list[Evidence]:
    """Up to 3 bootstrapped demos of this step, from a demo set chosen by the slot."""
    with_demos = [s for s in demo_sets if s.bootstrapped.get(name)]
    if not with_demos:
        return []
    chosen = with_demos[(slot - 1) % len(with_demos)]
    fields = predictor.spec.fields
    records = []
    for demo in chosen.bootstrapped[name][:MAX_FEWSHOT]:
        inputs = _role(demo, fields, "input")
        # An accepted run may still be partly wrong, so its outputs are shown as what the
        # program answered, not as labels.
        records.append(Evidence(inputs, outputs=_role(demo, fields, "output")))
    return records


def _role(demo: Mapping[str, Any], fields: Mapping[str, Any], role: str) -> dict[str, Any]:
    return {k: v for k, v in demo.items() if k in fields and fields[k].role == role}
