"""GEPA's reflection question, in the manner of gepa's default instruction-proposal prompt.

The prompt model is shown the instruction a step uses now and, one record per call, what the
step was given, what it answered and the metric's feedback. It is asked to work out the task
and the input format from the records, to write down every niche or domain-specific fact the
records and feedback reveal (the step will not see them again), and to keep any strategy that
worked in general. Unlike castlm's other proposers, it is not told to avoid example-specific
content: gepa's point is that such facts are worth keeping.
"""

from __future__ import annotations

from collections.abc import Sequence

import castlm as cl
from castlm import LM

from ..propose import Evidence, ask, records


class ReflectOnInstruction(cl.Signature):
    """An assistant was given the instruction below to do a task for me. The examples show
    inputs the assistant received, the answer it gave for each, and feedback on how each
    answer could have been better. Write a new instruction for the assistant. First read the
    inputs carefully: work out their format and infer a detailed description of the task.
    Then read every answer and its feedback, and identify all the niche and domain-specific
    facts about the task that they reveal; put them in the instruction, because the
    assistant will not have access to them later. If the assistant used a strategy that
    generalises, describe it in the instruction as well."""

    current_instruction: str = cl.InputField(desc="the instruction the assistant was given")
    examples: str = cl.InputField(
        desc="one JSON object per line: inputs, outputs (the assistant's answer), expected, "
        "feedback"
    )
    proposed_instruction: str = cl.OutputField(desc="the new instruction, and nothing else")


def reflect(
    lm: LM,
    current: str,
    evidence: Sequence[Evidence],
    *,
    template: str | None,
    temperature: float | None,
    rollout: int,
) -> str:
    """The reflected instruction; ``current`` if the reply is empty."""
    values = {"current_instruction": current, "examples": records(evidence)}
    answer = ask(
        lm,
        ReflectOnInstruction,
        values,
        template=template,
        temperature=temperature,
        rollout=rollout,
    )
    return answer or current
