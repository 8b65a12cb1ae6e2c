"""Instruction proposal: asking the prompt model for a better instruction.

Shared by the instruction optimizers (COPRO, MIPROv2, GEPA, SIMBA). The prompt model is an
ordinary castlm predictor over :class:`ProposeInstruction`, so proposals are cached, counted
and traced like every other LM call, and any model (the stand-in included) answers it the
same way. Evidence goes in as one JSON record per line: the inputs of an example, what the
program answered, the expected labels and, for reflective optimizers, the metric's feedback.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import castlm as cl
from castlm import LM, Example

TIPS: dict[str, str] = {
    "none": "",
    "creative": "Don't be afraid to be creative when writing the instruction.",
    "simple": "Keep the instruction clear and concise.",
    "descriptive": "Make the instruction detailed and descriptive.",
    "high_stakes": "The instruction will be used in a high-stakes setting; be precise.",
    "persona": "Include a persona that fits the task in the instruction.",
}


class ProposeInstruction(cl.Signature):
    """You improve the instruction of one step of a language-model program. Study the
    examples: what the step was given, what it answered, what was expected and any feedback.
    Write a new instruction that keeps what works and fixes what went wrong; state general
    rules, not answers to single examples."""

    current_instruction: str = cl.InputField(desc="the instruction the step uses now")
    task_description: str = cl.InputField(
        desc="the step's inputs and outputs, and what the program does"
    )
    examples: str = cl.InputField(
        desc="one JSON object per line: inputs, outputs (answered), expected, feedback"
    )
    tip: str = cl.InputField(desc="advice on the style of the instruction", default="")
    proposed_instruction: str = cl.OutputField(desc="the new instruction, and nothing else")


@dataclass(frozen=True)
class Evidence:
    """One example as the proposer sees it."""

    inputs: Mapping[str, Any]
    expected: Mapping[str, Any] = field(default_factory=dict)
    outputs: Mapping[str, Any] | None = None
    feedback: str | None = None

    def record(self) -> str:
        data: dict[str, Any] = {"inputs": dict(self.inputs)}
        if self.outputs is not None:
            data["outputs"] = dict(self.outputs)
        if self.expected:
            data["expected"] = dict(self.expected)
        if self.feedback:
            data["feedback"] = self.feedback
        return json.dumps(data, ensure_ascii=False, default=str)


def evidence_from(examples: Sequence[Example], predictor: cl.Predict[Any]) -> list[Evidence]:
    """Labelled examples restricted to one predictor's fields (no program outputs)."""
    fields = predictor.spec.fields
    records = []
    for ex in examples:
        inputs = {k: v for k, v in ex.items() if k in fields and fields[k].role == "input"}
        expected = {k: v for k, v in ex.items() if k in fields and fields[k].role == "output"}
        if inputs:
            records.append(Evidence(inputs, expected))
    return records


def describe_task(predictor: cl.Predict[Any], program_doc: str = "") -> str:
    spec = predictor.spec
    ins = ", ".join(f"{f.name} ({f.type_description})" for f in spec.inputs)
    outs = ", ".join(f"{f.name} ({f.type_description})" for f in spec.outputs)
    about = f" The program: {program_doc.strip()}" if program_doc.strip() else ""
    return f"Inputs: {ins}. Outputs: {outs}.{about}"


def describe_attempts(attempts: Sequence[tuple[str, float]]) -> str:
    """Earlier instructions and their scores, as a paragraph of the task description."""
    if not attempts:
        return ""
    lines = [
        f"[score {score:.1f}] {json.dumps(text, ensure_ascii=False)}" for text, score in attempts
    ]
    return (
        "\n\nInstructions tried so far, in increasing order of score (percent):\n"
        + "\n".join(lines)
        + "\nWrite an instruction that scores higher than all of them."
    )


def propose(
    lm: LM,
    predictor: cl.Predict[Any],
    evidence: Sequence[Evidence],
    *,
    current: str | None = None,
    tip: str = "",
    program_doc: str = "",
    temperature: float | None = None,
    rollout: int | None = None,
    attempts: Sequence[tuple[str, float]] = (),
) -> str:
    """One proposed instruction for ``predictor``; the current one if the reply is empty.

    ``attempts`` are earlier instructions with their scores, worst first (COPRO's feedback);
    they are appended to the task description.
    """
    proposer = cl.Predict(ProposeInstruction, lm=lm)
    instruction = predictor.instructions if current is None else current
    task = describe_task(predictor, program_doc) + describe_attempts(attempts)
    with cl.context(temperature=temperature, rollout=rollout):
        result = proposer(
            current_instruction=instruction,
            task_description=task,
            examples="\n".join(e.record() for e in evidence),
            tip=tip,
        )
    proposal = result.proposed_instruction.strip()
    return proposal or instruction
