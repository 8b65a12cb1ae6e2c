"""StandInLM: an offline, deterministic model whose answers depend on its prompt.

It reads a castlm prompt back (fields, types, reply format, instructions, demonstrations,
inputs), decides each output by the rules stated in its instructions, by analogy with the most
similar demonstration, or by a weak guess, and replies in exactly the requested format. When
asked for a ``proposed_instruction`` (or SIMBA's ``advice``) it writes rules from labelled
examples instead. The point is that prompt optimization has measurable effects offline: its
scores measure castlm's
pipeline and optimizers, not the quality of any language model. See ``docs/standin.md``.
Those answers, and a ReAct agent's, live in parts that an emitted package vendors only when
its program can ask for them (``_standin_parts.py``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, cast

from ..core._adapter import COMPLETED, header
from ..lm._lm import LM, LMRequest, LMResponse, ResponseCache, Usage
from ._standin_answer import answer
from ._standin_guess import Guesser
from ._standin_parts import asks_proposal, is_agent_prompt, missing
from ._standin_prompt import Prompt, read_prompt
from ._standin_retry import with_bounds
from ._standin_text import seed_of
from ._standin_types import options

MODEL_NAME = "standin"
#: Bumped whenever the stand-in answers some prompt differently, so that LM caches written by an
#: earlier stand-in are not replayed as if this one had answered (2: it reads passages).
BEHAVIOUR_VERSION = 2


class StandInLM(LM):
    """castlm's offline stand-in model (the LM name ``"standin"``)."""

    def __init__(self, *, cache: ResponseCache | None = None, **kwargs: Any) -> None:
        model = kwargs.pop("model", MODEL_NAME)
        super().__init__(str(model), cache=cache, **kwargs)

    @property
    def cache_namespace(self) -> str:
        return f"{type(self).__name__}/{BEHAVIOUR_VERSION}"

    def _send(self, request: LMRequest) -> LMResponse:
        text = self.reply(request)
        prompt_tokens = sum(len(m.get("content", "")) for m in request.messages) // 4
        return LMResponse(text, self.model, Usage(prompt_tokens, len(text) // 4), "stop")

    def reply(self, request: LMRequest) -> str:
        """The reply text for ``request``: the same request always gets the same reply."""
        prompt = read_prompt(request.messages, request.response_format)
        if prompt.retry_error:
            prompt = _with_retry_bounds(prompt)
        sampling = request.temperature is not None and request.temperature > 0
        sample = (
            seed_of([dict(m) for m in request.messages], request.rollout, request.temperature)
            if sampling
            else None
        )
        given: dict[str, Any] = {}
        if asks_proposal(prompt):
            given.update(_proposal(prompt, sample))
        if is_agent_prompt(prompt):
            given.update(_agent(prompt))  # ReAct steps, answers read from a trajectory
        return render(prompt, answer(prompt, _guesser(prompt, sample), given))


# The parts below are imported when a prompt needs them: a package vendors them only when its
# program can send such a prompt (_standin_parts.py). cast: the vendored runtime's type
# checkers may find no module to read.
def _proposal(prompt: Prompt, sample: int | None) -> Mapping[str, Any]:
    try:
        from ._standin_propose import given_for  # type: ignore[import-not-found, unused-ignore]
    except ModuleNotFoundError as exc:
        raise missing("standin-proposals", prompt, exc) from exc
    return cast("Mapping[str, Any]", given_for(prompt, sample))


def _agent(prompt: Prompt) -> Mapping[str, Any]:
    try:
        from ._standin_react import given_for  # type: ignore[import-not-found, unused-ignore]
    except ModuleNotFoundError as exc:
        raise missing("standin-agent", prompt, exc) from exc
    return cast("Mapping[str, Any]", given_for(prompt))


def _guesser(prompt: Prompt, sample: int | None) -> Guesser:
    # Without sampling the hash sees only the inputs, so a guess is a stable "prior" that
    # demonstrations and instructions do not shuffle; sampling adds the whole prompt.
    base: object = sample if sample is not None else prompt.values
    return Guesser(
        prompt.input_text(), lambda path: seed_of(base, path), sampling=sample is not None
    )


def _with_retry_bounds(prompt: Prompt) -> Prompt:
    return replace(prompt, outputs=with_bounds(prompt.outputs, prompt.retry_error or ""))


def render(prompt: Prompt, values: Mapping[str, Any]) -> str:
    """``values`` written the way the prompt asks: one JSON object, or one section per field."""
    if prompt.json_mode:
        return json.dumps({f.name: values[f.name] for f in prompt.outputs}, ensure_ascii=False)
    sections: list[str] = []
    for f in prompt.outputs:
        value = values[f.name]
        plain = isinstance(value, str) and (f.text or options(f.schema) is not None)
        sections.append(f"{header(f.name)}\n{value if plain else json.dumps(value)}")
    return "\n\n".join([*sections, header(COMPLETED)])
