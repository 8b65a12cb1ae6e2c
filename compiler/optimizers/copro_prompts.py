"""COPRO's two questions to the prompt model, in the manner of DSPy's COPRO.

The first round asks for an instruction from the step's current one (DSPy's
``BasicGenerateInstruction``); later rounds show the instructions tried so far with their
scores, worst first, and ask for one that scores higher (DSPy's
``GenerateInstructionGivenAttempts``). castlm adds the step's inputs and outputs and evidence
from the scored runs (the ``examples`` field), which DSPy's COPRO does not show.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import castlm as cl
from castlm import LM

from .propose import Evidence, ask, describe_task, dumps, records


class CoproPropose(cl.Signature):
    """You write instructions for language models. You are given the instruction one step of
    a program uses now, the step's inputs and outputs, and examples of its runs. Propose an
    instruction that leads a capable language model to do this step well. Feel free to be
    creative."""

    current_instruction: str = cl.InputField(desc="the instruction the step uses now")
    task_description: str = cl.InputField(desc="the step's inputs and outputs, and the program")
    examples: str = cl.InputField(
        desc="one JSON object per line: inputs, outputs (answered), expected, feedback"
    )
    tip: str = cl.InputField(desc="advice on the style of the instruction", default="")
    proposed_instruction: str = cl.OutputField(desc="the new instruction, and nothing else")


class CoproProposeGivenAttempts(cl.Signature):
    """You write instructions for language models. You are given instructions already tried
    for one step of a program, each with its validation score (percent), in increasing order
    of score: higher is better. Propose a new instruction that leads a capable language model
    to do this step even better than every attempt. Feel free to be creative."""

    attempted_instructions: str = cl.InputField(
        desc="one JSON object per line: instruction and score, worst first"
    )
    current_instruction: str = cl.InputField(desc="the best instruction so far")
    task_description: str = cl.InputField(desc="the step's inputs and outputs, and the program")
    examples: str = cl.InputField(
        desc="one JSON object per line: inputs, outputs (answered), expected, feedback"
    )
    tip: str = cl.InputField(desc="advice on the style of the instruction", default="")
    proposed_instruction: str = cl.OutputField(desc="the new instruction, and nothing else")


def copro_propose(
    lm: LM,
    predictor: cl.Predict[Any],
    evidence: Sequence[Evidence],
    *,
    attempts: Sequence[tuple[str, float]],
    tip: str,
    program_doc: str,
    template: str | None,
    temperature: float | None,
    rollout: int,
) -> str:
    """One proposal for ``predictor``; its current instruction if the reply is empty.

    With ``attempts`` (earlier instructions and their scores, worst first) the second
    question is asked.
    """
    current = predictor.instructions
    values: dict[str, Any] = {
        "current_instruction": current,
        "task_description": describe_task(predictor, program_doc),
        "examples": records(evidence),
        "tip": tip,
    }
    signature: type[cl.Signature] = CoproPropose
    if attempts:
        signature = CoproProposeGivenAttempts
        values["attempted_instructions"] = "\n".join(
            dumps({"instruction": text, "score": round(score, 1)}) for text, score in attempts
        )
    answer = ask(lm, signature, values, template=template, temperature=temperature, rollout=rollout)
    return answer or current
