"""Step 2 of MIPROv2: instruction candidates grounded in the data, the program and demos.

Each proposal shows the prompt model (``ctx.prompter``) what DSPy's grounded proposer shows
(the questions are in ``prompts.py``): a summary of the dataset (the prompt model describes
batches of training examples one after the other, each call seeing the observations so far,
until it answers COMPLETE; then the observations are summarised), the program's source with
an LM-written description of the program and of the step, up to 3 bootstrapped demos of the
step, its basic instruction and a random style tip. Unlike DSPy, castlm also shows
``proposal_examples`` labeled training examples (a different sample per proposal), so a
model that cannot act on a prose summary still grounds its rules in data; proposals are
made in parallel; and slot 0 keeps the original instruction without a proposal being spent
on it.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import castlm as cl
from castlm import LM, Example, LMError, Module, ParseError

from ..base import OptimizeContext
from ..parallel import parallel_map
from ..propose import TIPS, Evidence, ask, dumps, evidence_from, program_source, records
from .demosets import DemoSet
from .prompts import (
    COMPLETE,
    DescribeDataset,
    DescribeDatasetFurther,
    DescribeModule,
    DescribeProgram,
    GenerateInstruction,
    SummarizeObservations,
)

MAX_BATCHES = 10  # dataset batches described at most (DSPy looks at a bounded prefix too)
MAX_FEWSHOT = 3  # bootstrapped demos shown with a proposal


@dataclass(frozen=True)
class Grounding:
    """What every proposal of one compile shares."""

    program_code: str = ""  # "" when program_aware is off
    program: str = ""  # the LM-written description of the program
    modules: Mapping[str, str] = field(default_factory=dict)  # step name -> its description
    dataset: str = ""  # the dataset summary ("" when data_aware is off)


@dataclass(frozen=True)
class ProposalPlan:
    count: int  # instruction candidates per predictor, the original included
    proposal_examples: int
    temperature: float
    seed: int
    program_aware: bool = True
    tip_aware: bool = True
    fewshot_aware: bool = True
    template: str | None = None  # the user's prompt_template


def summarize_dataset(
    lm: LM, trainset: Sequence[Example], batch_size: int
) -> tuple[str, list[str]]:
    """The prompt model's summary of the training data, and the errors of failed calls.

    Batches are described in order, each call seeing the observations so far (so the calls
    are sequential); the first answer of COMPLETE ends the description early.
    """
    rows = [dumps(ex.to_dict()) for ex in trainset]
    batches = [rows[i : i + batch_size] for i in range(0, len(rows), batch_size)][:MAX_BATCHES]
    errors: list[str] = []
    observations: list[str] = []
    for batch in batches:
        values: dict[str, Any] = {"examples": "\n".join(batch)}
        signature: type[cl.Signature] = DescribeDataset
        if observations:
            signature = DescribeDatasetFurther
            values["prior_observations"] = "\n\n".join(observations)
        try:
            seen = ask(lm, signature, values, output="observations")
        except (LMError, ParseError) as exc:  # a failed call loses one batch, not the compile
            errors.append(f"dataset description: {type(exc).__name__}: {exc}")
            continue
        if observations and seen.upper().startswith(COMPLETE):
            break
        if seen:
            observations.append(seen)
    if not observations:
        return "", errors
    try:
        summary = ask(
            lm,
            SummarizeObservations,
            {"observations": "\n\n".join(observations)},
            output="summary",
        )
    except (LMError, ParseError) as exc:
        errors.append(f"dataset summary: {type(exc).__name__}: {exc}")
        return "\n".join(observations), errors
    return summary, errors


def describe_program(
    lm: LM, student: Module, example: Example | None, threads: int
) -> tuple[Grounding, list[str]]:
    """The program's code, its LM-written description and one of each step (in parallel)."""
    code = program_source(student)
    errors: list[str] = []
    try:
        about = ask(
            lm,
            DescribeProgram,
            {
                "program_code": code,
                "program_example": dumps(example.to_dict()) if example is not None else "{}",
            },
            output="program_description",
        )
    except (LMError, ParseError) as exc:  # the proposals go on without the description
        errors.append(f"program description: {type(exc).__name__}: {exc}")
        about = ""
    named = student.named_predictors()

    def module(item: tuple[str, cl.Predict[Any]]) -> str:
        name = item[0]
        values = {"program_code": code, "program_description": about, "module": _module(item)}
        try:
            return ask(lm, DescribeModule, values, output="module_description")
        except (LMError, ParseError) as exc:
            errors.append(f"description of {name}: {type(exc).__name__}: {exc}")
            return ""

    described = parallel_map(module, named, threads)
    modules = {name: text for (name, _), text in zip(named, described, strict=True)}
    return Grounding(code, about, modules), errors


def _module(item: tuple[str, cl.Predict[Any]]) -> str:
    name, predictor = item
    spec = predictor.spec
    ins = ", ".join(f.name for f in spec.inputs)
    outs = ", ".join(f.name for f in spec.outputs)
    return f"{name} = {type(predictor).__name__}({spec.name}: {ins} -> {outs})"


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
    demos = _fewshot(name, predictor, slot, shared.demo_sets) if plan.fewshot_aware else []
    k = min(plan.proposal_examples, len(trainset))
    labeled = evidence_from(rng.sample(list(trainset), k), predictor)
    values = {
        "dataset_description": grounding.dataset,
        "program_code": grounding.program_code,
        "program_description": grounding.program,
        "module_name": name,
        "module_description": grounding.modules.get(name) or describe_step(name, predictor),
        "task_demos": records(demos),
        "examples": records(labeled),
        "current_instruction": predictor.instructions,
        "tip": tip,
    }
    answer = ask(
        shared.lm,
        GenerateInstruction,
        values,
        template=plan.template,
        temperature=plan.temperature,
        rollout=slot,
    )
    return answer or predictor.instructions


def _fewshot(
    name: str, predictor: cl.Predict[Any], slot: int, demo_sets: Sequence[DemoSet]
) -> list[Evidence]:
    """Up to 3 bootstrapped demos of this step, from a demo set chosen by the slot."""
    with_demos = [s for s in demo_sets if s.bootstrapped.get(name)]
    if not with_demos:
        return []
    chosen = with_demos[(slot - 1) % len(with_demos)]
    fields = predictor.spec.fields
    shown = []
    for demo in chosen.bootstrapped[name][:MAX_FEWSHOT]:
        inputs = _role(demo, fields, "input")
        # An accepted run may still be partly wrong, so its outputs are shown as what the
        # program answered, not as labels.
        shown.append(Evidence(inputs, outputs=_role(demo, fields, "output")))
    return shown


def _role(demo: Mapping[str, Any], fields: Mapping[str, Any], role: str) -> dict[str, Any]:
    return {k: v for k, v in demo.items() if k in fields and fields[k].role == role}
