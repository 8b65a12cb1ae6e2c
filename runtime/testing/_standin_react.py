"""How the stand-in model acts as a ReAct agent, and answers from an agent's trajectory.

**A ReAct step** (a prompt whose outputs include ``next_tool_name`` and ``next_tool_args``):

1. Once the trajectory holds a tool call whose observation is not an error, it finishes.
2. Otherwise it picks a tool it has not seen fail: the one a rule in the instructions names;
   else the tool of the most similar demonstration of a tool call (similarity of the inputs
   other than the trajectory, at least the analogy threshold); else the tool whose name,
   description and argument names share the most content words with the inputs (ties: the
   first listed; no overlap: the first tool).
3. It fills the tool's required arguments from the inputs: numbers in the order they appear;
   choices (``enum``) by the options the inputs mention, in order of mention; text from a
   quoted span, else (for an argument whose name or description says expression, formula or
   math) the longest arithmetic span, else a run of capitalized words that does not start the
   sentence, else the inputs' content words.

**An answer after a trajectory** (an input named ``trajectory`` with a successful observation,
as ReAct's and CodeAct's ``extract`` steps have): text and number outputs that no rule sets are
read from the last successful observation, instead of being copied from a demonstration.

The tool list is read from the instructions in the form ReAct writes it:
``(1) name: description Arguments: {json schema properties}``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..base._narrow import is_array, is_object
from ._standin_answer import SIMILARITY_THRESHOLD
from ._standin_parts import ARGS_FIELD, NAME_FIELD, TRAJECTORY, is_react_step
from ._standin_prompt import Prompt
from ._standin_rules import fire, parse_rules
from ._standin_text import STOPWORDS, content_words, similarity, words
from ._standin_types import Schema, type_of

THOUGHT_FIELD = "next_thought"
FINISH = "finish"

_TOOL_LINE = re.compile(r"^\((\d+)\) ([A-Za-z0-9_-]+): (.*)$", re.MULTILINE)
_STEP_LINE = re.compile(r"^(thought|tool_name|tool_args|observation)_(\d+): ?", re.MULTILINE)
_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)*(?:\.\d+)?(?:[eE]-?\d+)?")
_QUOTED = re.compile(r"\"([^\"]+)\"|'([^']+)'|“([^”]+)”")
_MATH = re.compile(r"[\d(][\d\s.+\-*/()%^]*[\d)]")
_CAPITALIZED = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-Z][\w'-]*(?:\s+(?:of\s+)?[A-Z][\w'-]*)*)")
_MATHY = ("expression", "formula", "math", "arithmetic", "calculation")


@dataclass(frozen=True)
class ToolInfo:
    name: str
    description: str
    properties: dict[str, Schema]


@dataclass(frozen=True)
class Call:
    tool: str
    observation: str


def react_step(prompt: Prompt) -> dict[str, Any]:
    """Values for the step's outputs (see the module docstring)."""
    calls = trajectory_calls(prompt.values.get(TRAJECTORY, ""))
    if any(not _failed(c) for c in calls):
        return {
            THOUGHT_FIELD: "The last observation gives what the task needs, so I finish.",
            NAME_FIELD: FINISH,
            ARGS_FIELD: "{}",
        }
    tools = [t for t in read_tools(prompt.instructions) if t.name not in {c.tool for c in calls}]
    if not tools:
        return {
            THOUGHT_FIELD: "Every tool has failed; I finish with what I have.",
            NAME_FIELD: FINISH,
            ARGS_FIELD: "{}",
        }
    tool = _ruled(prompt, tools) or _analogous(prompt, tools) or _closest(prompt, tools)
    args = fill_arguments(tool, _task_text(prompt))
    return {
        THOUGHT_FIELD: f"I need {tool.name} to make progress on this.",
        NAME_FIELD: tool.name,
        ARGS_FIELD: json.dumps(args, ensure_ascii=False),
    }


def observation_answers(prompt: Prompt) -> dict[str, Any]:
    """Text and number outputs read from the trajectory's last successful observation; fields
    that a rule in the instructions sets are left to the rule."""
    if TRAJECTORY not in prompt.values or is_react_step(prompt):
        return {}
    good = [c for c in trajectory_calls(prompt.values[TRAJECTORY]) if not _failed(c)]
    if not good:
        return {}
    observation = good[-1].observation.strip()
    ruled = fire(parse_rules(prompt.instructions), prompt.inputs, prompt.outputs, prompt.values)
    found: dict[str, Any] = {}
    for f in prompt.outputs:
        if f.name in ruled or f.name in ("reasoning", "rationale"):
            continue
        kind = type_of(f.schema)
        if kind == "string" and not f.schema.get("enum"):
            found[f.name] = observation
        elif kind in ("integer", "number") and (number := _first_number(observation)) is not None:
            found[f.name] = round(number) if kind == "integer" else number
    return found


# -- reading the prompt -------------------------------------------------------------------------
def read_tools(instructions: str) -> list[ToolInfo]:
    tools: list[ToolInfo] = []
    for match in _TOOL_LINE.finditer(instructions):
        name, rest = match.group(2), match.group(3)
        if name == FINISH:
            continue
        description, _, args = rest.rpartition(" Arguments: ")
        try:
            properties: Any = json.loads(args) if description else {}
        except ValueError:
            properties = {}
        tools.append(
            ToolInfo(
                name,
                description if description else rest,
                properties if is_object(properties) else {},
            )
        )
    return tools


def trajectory_calls(trajectory: str) -> list[Call]:
    parts: dict[tuple[str, int], str] = {}
    matches = list(_STEP_LINE.finditer(trajectory))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(trajectory)
        parts[(match.group(1), int(match.group(2)))] = trajectory[match.end() : end].strip()
    steps = sorted({n for _, n in parts})
    return [
        Call(parts.get(("tool_name", n), ""), parts.get(("observation", n), ""))
        for n in steps
        if parts.get(("tool_name", n), FINISH) != FINISH
    ]


def _failed(call: Call) -> bool:
    return call.observation.startswith("Error")


def _task_text(prompt: Prompt) -> str:
    return "\n".join(v for k, v in prompt.values.items() if k != TRAJECTORY)


# -- choosing a tool ----------------------------------------------------------------------------
def _ruled(prompt: Prompt, tools: list[ToolInfo]) -> ToolInfo | None:
    fired = fire(parse_rules(prompt.instructions), prompt.inputs, prompt.outputs, prompt.values)
    chosen = fired.get(NAME_FIELD)
    return next((t for t in tools if chosen is not None and t.name == chosen.value), None)


def _analogous(prompt: Prompt, tools: list[ToolInfo]) -> ToolInfo | None:
    target = content_words(_task_text(prompt))
    best: tuple[float, ToolInfo | None] = (0.0, None)
    for demo in prompt.demos:
        name = demo.outputs.get(NAME_FIELD)
        tool = next((t for t in tools if t.name == name), None)
        if tool is None:
            continue
        text = "\n".join(v for k, v in demo.inputs.items() if k != TRAJECTORY)
        score = similarity(target, content_words(text))
        if score > best[0]:
            best = (score, tool)
    return best[1] if best[0] >= SIMILARITY_THRESHOLD else None


def _closest(prompt: Prompt, tools: list[ToolInfo]) -> ToolInfo:
    task = content_words(_task_text(prompt))
    scores = [len(task & content_words(_tool_words(t))) for t in tools]
    return tools[scores.index(max(scores))]


def _tool_words(tool: ToolInfo) -> str:
    arguments = " ".join(
        f"{name} {schema.get('description', '')}" for name, schema in tool.properties.items()
    )
    return f"{tool.name.replace('_', ' ')} {tool.description} {arguments}"


# -- filling arguments --------------------------------------------------------------------------
def fill_arguments(tool: ToolInfo, text: str) -> dict[str, Any]:
    numbers = [n for n in (_number(m) for m in _NUMBER.findall(text)) if n is not None]
    quoted = [next(g for g in m.groups() if g) for m in _QUOTED.finditer(text)]
    mentioned = _mentions_in_order(text)
    args: dict[str, Any] = {}
    for name, schema in tool.properties.items():
        if "default" in schema:
            continue
        kind = type_of(schema)
        if is_array(schema.get("enum")):
            args[name] = _pick_option(schema["enum"], mentioned, args.values())
        elif kind in ("integer", "number"):
            value = numbers.pop(0) if numbers else 0
            args[name] = round(value) if kind == "integer" else value
        elif kind == "boolean":
            args[name] = False
        else:
            args[name] = _text_argument(name, schema, text, quoted)
    return args


def _pick_option(options: list[Any], mentioned: list[str], taken: Any) -> Any:
    used = set(map(str, taken))
    ranked: list[tuple[int, Any]] = []
    for option in options:
        stems = content_words(str(option).replace("_", " "))
        spots = [mentioned.index(s) for s in stems if s in mentioned]
        if spots:
            ranked.append((min(spots), option))
    for _, option in sorted(ranked, key=lambda pair: pair[0]):
        if str(option) not in used:
            return option
    return options[0]


def _mentions_in_order(text: str) -> list[str]:
    return [w for w in (next(iter(content_words(x)), "") for x in words(text)) if w]


def _text_argument(name: str, schema: Schema, text: str, quoted: list[str]) -> str:
    if quoted:
        return quoted.pop(0)
    about = f"{name} {schema.get('description', '')}".lower()
    if any(word in about for word in _MATHY):
        spans: list[str] = [s.strip() for s in _MATH.findall(text) if re.search(r"[-+*/%^]", s)]
        if spans:
            return max(spans, key=len)
    names = [
        m.group(1)
        for m in _CAPITALIZED.finditer(text)
        if m.group(1).split()[0].lower() not in STOPWORDS
    ]
    if names:
        return names[0]
    return " ".join(w for w in words(text) if w not in STOPWORDS)


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def _first_number(text: str) -> float | None:
    for match in _NUMBER.findall(text):
        value = _number(match)
        if value is not None:
            return value
    return None


def given_for(prompt: Prompt) -> dict[str, Any]:
    """What this module decides for ``prompt`` (nothing when it is neither mode)."""
    if is_react_step(prompt):
        return react_step(prompt)
    return observation_answers(prompt)
