"""How the stand-in model decides each output: rules, then analogy, then a weak guess.

1. Rules stated in the instructions (``_standin_rules``) that apply to the inputs set their
   fields (or nested properties) first.
2. Analogy: the demonstration whose inputs are most similar to the current inputs (Jaccard
   overlap of their content words, see ``_standin_text.similarity``) lends its value for every
   field no rule set, provided the overlap is at least :data:`SIMILARITY_THRESHOLD` and the
   demonstration has a well-typed value for the field.
3. Everything else is a weak guess (``_standin_guess``).

A reading task (a short answer or a search query over passages in the inputs, see
``_standin_read``) is read from the passages instead of guessed, and a similar demonstration
whose value is grounded in its own passages teaches how to read rather than lending its value.

A ``reasoning``/``rationale`` text output (ChainOfThought) explains which of these happened.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..base._narrow import is_object
from ._standin_guess import Guesser
from ._standin_prompt import Demo, FieldInfo, Prompt
from ._standin_read import lesson_from, read, reading_for, teacher
from ._standin_rules import Firing, fire, parse_rules, write_value
from ._standin_text import content_words, similarity
from ._standin_types import conforms

#: The smallest word overlap (Jaccard, stopwords removed) at which a demonstration's answer is
#: copied. 0.05 is about one shared content word between two short messages (a sentence or
#: two each): the stand-in is as suggestible as a small model, but texts that share nothing
#: but filler never lend their answers.
SIMILARITY_THRESHOLD = 0.05
REASONING_FIELDS = frozenset({"reasoning", "rationale"})


@dataclass
class _Sources:
    """Where each output came from, for the reasoning text."""

    fired: dict[str, Firing]
    analog: Demo | None
    overlap: float
    copied: list[str] = field(default_factory=list[str])
    read: list[str] = field(default_factory=list[str])
    taught: list[str] = field(default_factory=list[str])


def nearest_demo(prompt: Prompt) -> tuple[Demo | None, float]:
    """The demonstration most similar to the current inputs, and its similarity."""
    target = content_words(prompt.input_text())
    best: Demo | None = None
    best_score = 0.0
    for demo in prompt.demos:
        score = similarity(target, content_words("\n".join(demo.inputs.values())))
        if score > best_score:
            best, best_score = demo, score
    return best, best_score


def answer(
    prompt: Prompt, guesser: Guesser, given: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A value for every output field of ``prompt``, in declaration order; the fields in
    ``given`` (decided elsewhere, such as a proposal) keep their values."""
    fired = fire(parse_rules(prompt.instructions), prompt.inputs, prompt.outputs, prompt.values)
    demo, overlap = nearest_demo(prompt)
    sources = _Sources(fired, demo if overlap >= SIMILARITY_THRESHOLD else None, overlap)
    values: dict[str, Any] = dict(given or {})
    for f in prompt.outputs:
        if f.name not in values and not (f.text and f.name in REASONING_FIELDS):
            values[f.name] = _decide(prompt, f, sources, guesser)
    for f in prompt.outputs:
        if f.name not in values:
            values[f.name] = explain(sources, [o.name for o in prompt.outputs])
    return {f.name: values[f.name] for f in prompt.outputs}


def _decide(prompt: Prompt, f: FieldInfo, sources: _Sources, guesser: Guesser) -> Any:
    if f.name in sources.fired:
        return sources.fired[f.name].value
    analog = sources.analog
    reading = reading_for(prompt, f)
    if reading is not None:
        # The demonstration with the most similar question teaches how to read; one whose
        # answer is a fixed label (not in its passages) is copied like any analogy.
        analog = teacher(prompt, f, SIMILARITY_THRESHOLD)
        lesson = lesson_from(prompt, f, analog) if analog is not None else None
        if analog is None or lesson is not None or reading.mode == "query":
            found = read(reading, lesson)
            if found is not None:
                (sources.taught if lesson is not None else sources.read).append(f.name)
                return found
    lent = analog.outputs.get(f.name) if analog is not None else None
    if analog is not None and (repeated := _repeated_input(analog, lent, prompt)) is not None:
        sources.copied.append(f.name)
        value: Any = repeated
    elif lent is not None and conforms(lent, f.schema):
        sources.copied.append(f.name)
        value = copy.deepcopy(lent)
    else:
        value = guesser.value(f.schema, f.name, f"{f.name.replace('_', ' ')} {f.desc}")
    for path, firing in sources.fired.items():
        if path.startswith(f"{f.name}."):
            _set_path(value, path.split(".")[1:], firing.value)
    return value


def _repeated_input(demo: Demo, value: Any, prompt: Prompt) -> str | None:
    """The current value of the input ``demo`` repeats as its ``value``, if it repeats one: a
    demonstration that answers with one of its inputs shows to repeat that input, not its text."""
    if not isinstance(value, str):
        return None
    same = " ".join(value.split())
    for name, text in demo.inputs.items():
        if " ".join(text.split()) == same and name in prompt.values:
            return prompt.values[name]
    return None


def _set_path(value: Any, keys: list[str], new: Any) -> None:
    for key in keys[:-1]:
        if not is_object(value) or not is_object(value.get(key)):
            return
        value = value[key]
    if is_object(value):
        value[keys[-1]] = new


def explain(sources: _Sources, names: list[str]) -> str:
    """A short account of how the answer was reached, as a model's reasoning would give it."""
    parts = [
        f'The {f.subject} mentions "{f.phrase}", so {f.path} is {write_value(f.value)}.'
        for f in sources.fired.values()
    ]
    if sources.copied:
        parts.append(
            f"It closely resembles an earlier example ({sources.overlap:.0%} shared words), "
            f"so {', '.join(sources.copied)} follow that example."
        )
    if sources.taught:
        parts.append(
            f"An earlier example answered from its passages, so I read {', '.join(sources.taught)}"
            " from these passages the same way."
        )
    elif sources.read:
        parts.append(f"I read {', '.join(sources.read)} from the passages.")
    decided = set(sources.fired) | set(sources.copied) | set(sources.read) | set(sources.taught)
    decided |= REASONING_FIELDS
    if any(n not in decided for n in names):
        parts.append("Nothing in the instructions or examples settles the rest; I guess.")
    return " ".join(parts)
