"""ReAct: an agent that alternates reasoning and tool calls, then answers.

Each turn, the ``react`` predictor sees the inputs and the trajectory so far and picks the next
thought, tool and arguments; the tool runs and its observation is appended to the trajectory;
``finish`` (or ``max_iters`` turns) ends the loop, and the ``extract`` predictor (a
ChainOfThought over the user's signature plus the trajectory) writes the final outputs.

Both are ordinary predictors (``agent.react``, ``agent.extract``): traced, optimized and frozen
like any other. Where the LM supports native function calling (``LM.supports_tools``, e.g. the
OpenAI-compatible client) the ``react`` step sends the tools in the request and reads the
model's ``tool_calls``; elsewhere it uses a text protocol: the outputs ``next_thought``,
``next_tool_name`` and ``next_tool_args``, as DSPy does. Either way the step is recorded with
the same fields, so demos collected one way work the other.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar

from ..base._errors import ConfigurationError, LMStatusError, ParseError
from ..core import _compose
from ..core._compose import NewField
from ..core._context import current
from ..core._module import TypedModule
from ..core._predict import ChainOfThought, Predict
from ..core._signature import Signature, spec_of
from ..lm._lm import LM, LMResponse
from ..observe import _instrument
from ..observe._tool_span import execute_tool
from ..tools._tool import MAX_OBSERVATION_CHARS, Observation, Tool, as_tool

S = TypeVar("S", bound=Signature)

FINISH = "finish"
TRAJECTORY = NewField(
    "trajectory", str, "the steps taken so far: thoughts, tool calls and their observations"
)
_FINISHED = "Completed."


@dataclass(frozen=True, slots=True)
class Step:
    """One turn of an agent: what it thought, which tool it called with what, what came back."""

    thought: str
    tool_name: str
    tool_args: str
    observation: str


def format_trajectory(steps: Sequence[Step]) -> str:
    """The trajectory as prompt text: ``thought_0: ...``, ``tool_name_0: ...``, ... per step."""
    lines: list[str] = []
    for i, step in enumerate(steps):
        lines += [
            f"thought_{i}: {step.thought}",
            f"tool_name_{i}: {step.tool_name}",
            f"tool_args_{i}: {step.tool_args}",
            f"observation_{i}: {step.observation}",
        ]
    return "\n".join(lines)


def catalog(tools: Sequence[Tool], finish_about: str) -> str:
    """The numbered tool list written into the ``react`` instructions."""
    lines = [f"({i}) {tool.describe()}" for i, tool in enumerate(tools, 1)]
    lines.append(f"({len(tools) + 1}) {FINISH}: {finish_about} Arguments: {{}}")
    return "\n".join(lines)


def _names(fields: Sequence[Any]) -> str:
    return ", ".join(f"`{f.name}`" for f in fields)


def react_instructions(signature: type[Signature], tools: Sequence[Tool]) -> str:
    spec = spec_of(signature)
    finish = (
        f"Marks the task as complete: all the information needed to produce "
        f"{_names(spec.outputs)} is now available."
    )
    return (
        f"{spec.instructions}\n\n"
        f"You are an agent. In each turn you are given the fields {_names(spec.inputs)} and "
        f"your trajectory so far. Your goal is to use one or more of the tools below to collect "
        f"the information needed to produce {_names(spec.outputs)}.\n\n"
        f"In each turn, write next_thought, next_tool_name and next_tool_args; after each tool "
        f"call you receive an observation, which is appended to your trajectory. In "
        f"next_thought, reason about the current situation and plan the next steps. "
        f"next_tool_name must be one of:\n\n{catalog(tools, finish)}\n\n"
        f"next_tool_args is a JSON object of the tool's arguments."
    )


def step_signature(signature: type[Signature], tools: Sequence[Tool]) -> type[Signature]:
    names = (*(t.name for t in tools), FINISH)
    return _compose.derived(
        signature,
        suffix="ReActStep",
        instructions=react_instructions(signature, tools),
        inputs=[TRAJECTORY],
        outputs=[
            NewField("next_thought", str, "your reasoning about what to do next"),
            NewField("next_tool_name", Literal[names], "the tool to call next"),
            NewField(
                "next_tool_args",
                str,
                'the arguments of the tool, as one JSON object such as {"x": 1}; {} for finish',
            ),
        ],
        owner="ReAct",
        key=tuple(t.describe() for t in tools),
    )


class ToolBox:
    """The tools of one agent, by name, with how their observations are capped."""

    def __init__(
        self, tools: Sequence[Tool | Callable[..., Any]], max_chars: int, owner: str
    ) -> None:
        self.tools: dict[str, Tool] = {}
        for value in tools:
            tool = as_tool(value)
            if tool.name == FINISH or tool.name in self.tools:
                raise ConfigurationError(
                    f"{owner}: two tools are named {tool.name!r} ({FINISH!r} is reserved); "
                    f"pass Tool(fn, name=...) to rename one"
                )
            self.tools[tool.name] = tool
        self.max_chars = max_chars

    def run(self, name: str, args: str) -> Observation:
        tool = self.tools.get(name)
        with execute_tool(name, tool.description if tool else "", args) as span:
            if tool is None:
                found = self._unknown(name)
            else:
                found = tool.run(args, max_chars=self.max_chars)
            span.finish(found.ok, found.text)
        return found

    async def arun(self, name: str, args: str) -> Observation:
        tool = self.tools.get(name)
        with execute_tool(name, tool.description if tool else "", args) as span:
            if tool is None:
                found = self._unknown(name)
            else:
                found = await tool.arun(args, max_chars=self.max_chars)
            span.finish(found.ok, found.text)
        return found

    def _unknown(self, name: str) -> Observation:
        known = ", ".join([*self.tools, FINISH])
        return Observation(f"Error: there is no tool {name!r}; the tools are {known}", False)

    def __deepcopy__(self, memo: dict[int, Any]) -> ToolBox:
        return self  # tools are shared by copies of a program (see Tool.__deepcopy__)


class ReAct(TypedModule[S]):
    """A reason-act agent over ``tools`` that returns ``signature``'s outputs.

    ``tools`` are functions (turned into :class:`castlm.Tool`) or Tools. ``max_iters`` bounds
    the tool calls. ``native_tools``: None (default) uses the LM's native function calling when
    it has one, True insists on it, False always uses the text protocol.
    ``max_observation_chars`` caps each observation shown to the model.

    The result is an instance of ``signature`` with two extra attributes: ``trajectory`` (the
    steps, as text) and ``reasoning`` (from the final ``extract`` step).
    """

    def __init__(
        self,
        signature: type[S],
        tools: Sequence[Tool | Callable[..., Any]],
        *,
        max_iters: int = 10,
        native_tools: bool | None = None,
        max_observation_chars: int = MAX_OBSERVATION_CHARS,
    ) -> None:
        if max_iters < 1:
            raise ConfigurationError("ReAct: max_iters must be at least 1")
        self.signature = signature
        self.toolbox: ToolBox = ToolBox(tools, max_observation_chars, "ReAct")
        self.max_iters = max_iters
        self.native_tools = native_tools
        self.react: Predict[Signature] = Predict(
            step_signature(signature, list(self.toolbox.tools.values()))
        )
        self.extract: ChainOfThought[S] = ChainOfThought(
            _compose.with_inputs(signature, [TRAJECTORY], suffix="ReActExtract", owner="ReAct")
        )

    @property
    def tools(self) -> dict[str, Tool]:
        return self.toolbox.tools

    # -- the loop --------------------------------------------------------------------------
    def forward(self, **inputs: Any) -> S:
        steps: list[Step] = []
        for _ in range(self.max_iters):
            step = self._next(inputs, steps)
            if step is None or step.tool_name == FINISH:
                break
            _instrument.stream_status(self.react, _calling(step), step.tool_name)
            observation = self.toolbox.run(step.tool_name, step.tool_args)
            steps.append(replace(step, observation=observation.text))
        return self._extract(inputs, steps)

    async def aforward(self, **inputs: Any) -> S:
        steps: list[Step] = []
        for _ in range(self.max_iters):
            step = await self._anext(inputs, steps)
            if step is None or step.tool_name == FINISH:
                break
            _instrument.stream_status(self.react, _calling(step), step.tool_name)
            observation = await self.toolbox.arun(step.tool_name, step.tool_args)
            steps.append(replace(step, observation=observation.text))
        return await self._aextract(inputs, steps)

    def _extract(self, inputs: Mapping[str, Any], steps: list[Step]) -> S:
        result: S = self.extract(**inputs, trajectory=format_trajectory(steps))
        return result

    async def _aextract(self, inputs: Mapping[str, Any], steps: list[Step]) -> S:
        result: S = await self.extract.acall(**inputs, trajectory=format_trajectory(steps))
        return result

    # -- one step --------------------------------------------------------------------------
    def _next(self, inputs: Mapping[str, Any], steps: list[Step]) -> Step | None:
        """The next tool call; None when the model's reply could not be read at all. A
        ``finish`` is appended to ``steps`` here (the loop ends with it)."""
        kwargs = {**inputs, "trajectory": format_trajectory(steps)}
        try:
            native = self._native_step(kwargs) if self._native() else None
            outputs = native if native is not None else _outputs(self.react(**kwargs))
        except ParseError as exc:
            steps.append(Step("", FINISH, "{}", f"Error: the agent's reply was unreadable: {exc}"))
            return None
        return _record_finish(_as_step(outputs), steps)

    async def _anext(self, inputs: Mapping[str, Any], steps: list[Step]) -> Step | None:
        kwargs = {**inputs, "trajectory": format_trajectory(steps)}
        try:
            native = await self._anative_step(kwargs) if self._native() else None
            outputs = native if native is not None else _outputs(await self.react.acall(**kwargs))
        except ParseError as exc:
            steps.append(Step("", FINISH, "{}", f"Error: the agent's reply was unreadable: {exc}"))
            return None
        return _record_finish(_as_step(outputs), steps)

    def _native(self) -> bool:
        if self.native_tools is False:
            return False
        lm = current_lm(self.react)
        if lm is None:  # the text path raises the usual "no LM" error
            return False
        if self.native_tools and not lm.supports_tools:
            raise ConfigurationError(
                f"ReAct(native_tools=True): {lm!r} does not support native function calling; "
                f"pass native_tools=None to fall back to the text protocol"
            )
        return lm.supports_tools

    def _specs(self) -> tuple[dict[str, Any], ...]:
        finish: dict[str, Any] = {
            "type": "function",
            "function": {
                "name": FINISH,
                "description": "Call when all the information needed for the answer is known.",
                "parameters": {"type": "object", "properties": {}},
            },
        }
        return (*(t.spec() for t in self.toolbox.tools.values()), finish)

    def _native_step(self, kwargs: dict[str, Any]) -> dict[str, Any] | None:
        """The step through native function calling; None when the endpoint turned out not
        to support it (the caller then takes the text path)."""
        with _instrument.predictor_call(self.react):
            values, messages, request, lm, ctx = self.react._prepare(kwargs)
            request = replace(request, tools=self._specs())
            try:
                response = lm.complete(request, use_cache=ctx.use_cache)
            except LMStatusError as exc:
                if not _rejects_tools(exc):
                    raise
                _give_up_tools(lm)
                return None
            outputs = self._read(response)
            result = self.react._finish(values, outputs, messages, response, ctx)
            _instrument.stream_result(self.react, result)
            return outputs

    async def _anative_step(self, kwargs: dict[str, Any]) -> dict[str, Any] | None:
        with _instrument.predictor_call(self.react):
            values, messages, request, lm, ctx = self.react._prepare(kwargs)
            request = replace(request, tools=self._specs())
            try:
                response = await lm.acomplete(request, use_cache=ctx.use_cache)
            except LMStatusError as exc:
                if not _rejects_tools(exc):
                    raise
                _give_up_tools(lm)
                return None
            outputs = self._read(response)
            result = self.react._finish(values, outputs, messages, response, ctx)
            _instrument.stream_result(self.react, result)
            return outputs

    def _read(self, response: LMResponse) -> dict[str, Any]:
        """The step's outputs from a native answer: its first tool call, else its text read
        with the text protocol, else (prose) a finish."""
        thought = response.text.strip()
        if response.tool_calls:
            call = response.tool_calls[0]
            return {
                "next_thought": thought or f"I call {call.name}.",
                "next_tool_name": call.name,
                "next_tool_args": call.arguments or "{}",
            }
        try:
            return self.react.adapter.parse(self.react.spec, response.text)
        except ParseError:
            return {"next_thought": thought, "next_tool_name": FINISH, "next_tool_args": "{}"}


def _calling(step: Step) -> str:
    return f"calling tool {step.tool_name} with {step.tool_args}"


def _outputs(prediction: Signature) -> dict[str, Any]:
    return {
        "next_thought": getattr(prediction, "next_thought", ""),
        "next_tool_name": getattr(prediction, "next_tool_name", FINISH),
        "next_tool_args": getattr(prediction, "next_tool_args", "{}"),
    }


def _as_step(outputs: Mapping[str, Any]) -> Step:
    args = outputs.get("next_tool_args", "{}")
    text = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
    return Step(str(outputs.get("next_thought", "")), str(outputs["next_tool_name"]), text, "")


def _record_finish(step: Step, steps: list[Step]) -> Step:
    if step.tool_name == FINISH:
        steps.append(replace(step, observation=_FINISHED))
    return step


def current_lm(predictor: Predict[Any]) -> LM | None:
    """The LM ``predictor`` would call now (its own, an override, or the context's)."""
    ctx = current()
    choose = getattr(predictor, "_lm_for", None)
    if choose is not None:
        chosen: LM | None = choose(ctx)
        return chosen
    return predictor.lm or ctx.lm


def _rejects_tools(exc: LMStatusError) -> bool:
    """A 400 that complains about ``tools``: the endpoint has no function calling."""
    return exc.status_code == 400 and "tool" in str(exc).lower()


def _give_up_tools(lm: LM) -> None:
    lm.supports_tools = False  # remembered for every later call, like response_format
