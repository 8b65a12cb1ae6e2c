"""The stand-in's parts that an emitted package vendors only when its program can use them.

A package runs its program; it never optimizes. So the stand-in's answers to the optimizers'
prompts (``_standin_propose.py``: a ``proposed_instruction``, SIMBA's ``advice``) and its
agent (``_standin_react.py``: ReAct's steps, answers read from a ``trajectory``) come with a
package only when its program can send such a prompt (compiler/emit/runtime_standin.py), and
the stand-in imports them when a prompt asks. A prompt that needs a part the package lacks
is refused with the castlm.toml setting that vendors it, never answered another way.
"""

from __future__ import annotations

from ..base._features import not_vendored
from ._standin_prompt import Prompt

PROPOSAL_FIELD = "proposed_instruction"
ADVICE_FIELD = "advice"  # SIMBA, and Refine's feedback predictor
NAME_FIELD = "next_tool_name"
ARGS_FIELD = "next_tool_args"
TRAJECTORY = "trajectory"

#: The prompt fields each part answers: an output for proposals, any field for the agent.
PROPOSAL_FIELDS = (PROPOSAL_FIELD, ADVICE_FIELD)
AGENT_FIELDS = (NAME_FIELD, ARGS_FIELD, TRAJECTORY)


def asks_proposal(prompt: Prompt) -> bool:
    return any(f.name in PROPOSAL_FIELDS for f in prompt.outputs)


def is_react_step(prompt: Prompt) -> bool:
    names = {f.name for f in prompt.outputs}
    return NAME_FIELD in names and ARGS_FIELD in names


def is_agent_prompt(prompt: Prompt) -> bool:
    """A ReAct step, or an answer written after a trajectory (ReAct's and CodeAct's extract)."""
    return is_react_step(prompt) or TRAJECTORY in prompt.values


def missing(part: str, prompt: Prompt, error: ImportError) -> Exception:
    """The error for ``prompt``, which needs ``part`` (base/_features.py) of the stand-in."""
    fields = ", ".join(f.name for f in (*prompt.inputs, *prompt.outputs))
    return not_vendored(part, f"the stand-in's answer to a prompt with the fields {fields}", error)
