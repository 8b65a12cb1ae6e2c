"""Instruction proposal: the machinery the instruction optimizers share.

Each instruction optimizer asks the prompt model its own question, in the manner of the
published optimizer it follows: COPRO (``copro_prompts.py``), MIPROv2
(``mipro/prompts.py``), GEPA (``gepa/prompts.py``) and SIMBA (``simba_prompts.py``). Every
question is an ordinary castlm Signature asked through :func:`ask`, so proposals are cached,
counted and traced like every other LM call, and any model (the stand-in included) answers
it the same way.

The template hook: every instruction optimizer takes a ``prompt_template`` option, a text
that replaces the default instructions of its proposal Signature (the task the prompt model
is given). The Signature's fields (the current instruction, the evidence, ...) are still
sent, as named fields, so a template only rewrites the request, never the data. See
docs/optimizers.md.

Evidence goes in as one JSON record per line: the inputs of an example, what the program
answered, the expected labels and, for reflective optimizers, the metric's feedback. Nested
values (pydantic models, enums) are written as JSON, never with ``str()``.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import json
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import castlm as cl
from castlm import LM, Example, Module
from pydantic import BaseModel

TIPS: dict[str, str] = {
    "none": "",
    "creative": "Don't be afraid to be creative when writing the instruction.",
    "simple": "Keep the instruction clear and concise.",
    "descriptive": "Make the instruction detailed and descriptive.",
    "high_stakes": "The instruction will be used in a high-stakes setting; be precise.",
    "persona": "Include a persona that fits the task in the instruction.",
}

MAX_SOURCE = 3000  # characters of program source shown to the prompt model

#: The output field every instruction proposal answers in (the stand-in model reads its
#: ``current_instruction``, ``examples`` and ``tip`` inputs to write rules).
PROPOSAL = "proposed_instruction"


def to_json(value: Any) -> Any:
    """``json.dumps``'s fallback: models and dataclasses as JSON objects, enums by value."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=to_json)


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
        return dumps(data)


def records(evidence: Sequence[Evidence]) -> str:
    """Evidence as the ``examples`` field: one JSON object per line."""
    return "\n".join(e.record() for e in evidence)


def evidence_from(examples: Sequence[Example], predictor: cl.Predict[Any]) -> list[Evidence]:
    """Labelled examples restricted to one predictor's fields (no program outputs)."""
    fields = predictor.spec.fields
    found = []
    for ex in examples:
        inputs = {k: v for k, v in ex.items() if k in fields and fields[k].role == "input"}
        expected = {k: v for k, v in ex.items() if k in fields and fields[k].role == "output"}
        if inputs:
            found.append(Evidence(inputs, expected))
    return found


def describe_task(predictor: cl.Predict[Any], program_doc: str = "") -> str:
    """A step's inputs and outputs (with their types), and the program's description."""
    spec = predictor.spec
    ins = ", ".join(f"{f.name} ({f.type_description})" for f in spec.inputs)
    outs = ", ".join(f"{f.name} ({f.type_description})" for f in spec.outputs)
    about = f" The program: {program_doc.strip()}" if program_doc.strip() else ""
    return f"Inputs: {ins}. Outputs: {outs}.{about}"


def program_source(student: Module) -> str:
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


def ask(
    lm: LM,
    signature: type[cl.Signature],
    values: Mapping[str, Any],
    *,
    template: str | None = None,
    temperature: float | None = None,
    rollout: int | None = None,
    output: str = PROPOSAL,
) -> str:
    """The prompt model's answer to ``signature`` (its ``output`` field, stripped).

    ``template`` replaces the Signature's instructions (the optimizer's ``prompt_template``).
    """
    asker = cl.Predict(signature, lm=lm, instructions=template or None)
    with cl.context(temperature=temperature, rollout=rollout):
        result = asker(**values)
    return str(getattr(result, output)).strip()
