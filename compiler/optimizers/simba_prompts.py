"""SIMBA's question to the prompt model, in the manner of the paper's and DSPy's
``OfferFeedback``: two runs of the whole program on one example, a better and a worse one,
and a request for advice to one module that would make its future runs more like the better
one. The advice is appended to the module's instruction (never replacing it), and every
module of the program is asked about, as in DSPy.

castlm asks once per module (in parallel) instead of once for a dictionary of advice per
module: a small prompt model answers one text field far more reliably than a dictionary
keyed by module names, and each module's advice is cached on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import castlm as cl
from castlm import LM

from .propose import Evidence, ask, records

#: The output field of an advice request (the stand-in model writes rules into it).
ADVICE = "advice"


class OfferAdvice(cl.Signature):
    """You are shown two runs of a program built from language-model modules, on the same
    inputs: a better run and a worse one, each with its reward. Help one module of the
    program build up experience, so that it earns a higher reward when it sees similar inputs
    in the future. The module will not see these runs; it will only read your advice. Make the
    advice concrete yet general; avoid boilerplate; write only advice that would change the
    module's behaviour for the better; keep to the module's own sub-task, not the whole
    program; and base it on what the worse run did differently from the better run."""

    program_code: str = cl.InputField(desc="the program's source")
    module_name: str = cl.InputField(desc="the module to advise")
    current_instruction: str = cl.InputField(desc="the module's instruction now")
    worse_trajectory: str = cl.InputField(
        desc="the worse run: one JSON object per module call (module, inputs, outputs)"
    )
    worse_reward: float = cl.InputField(desc="the worse run's reward")
    better_trajectory: str = cl.InputField(
        desc="the better run: one JSON object per module call (module, inputs, outputs)"
    )
    better_reward: float = cl.InputField(desc="the better run's reward")
    examples: str = cl.InputField(
        desc="the module's calls in the worse runs, one JSON object per line: inputs, "
        "outputs, expected, feedback"
    )
    advice: str = cl.OutputField(desc="advice for the module, or nothing when it needs none")


def offer_advice(
    lm: LM,
    *,
    program_code: str,
    module: str,
    instruction: str,
    worse: tuple[str, float],
    better: tuple[str, float],
    evidence: Sequence[Evidence],
    template: str | None,
    temperature: float | None,
    rollout: int,
) -> str:
    """Advice for ``module`` (possibly empty), from the trajectories ``(json_lines, reward)``."""
    values: dict[str, Any] = {
        "program_code": program_code,
        "module_name": module,
        "current_instruction": instruction,
        "worse_trajectory": worse[0],
        "worse_reward": round(worse[1], 4),
        "better_trajectory": better[0],
        "better_reward": round(better[1], 4),
        "examples": records(evidence),
    }
    return ask(
        lm,
        OfferAdvice,
        values,
        template=template,
        temperature=temperature,
        rollout=rollout,
        output=ADVICE,
    )


def appended(instruction: str, advice: str) -> str:
    """The instruction with the advice after it (unchanged when there is none)."""
    advice = advice.strip()
    if not advice:
        return instruction
    return f"{instruction.rstrip()}\n\n{advice}" if instruction.strip() else advice
