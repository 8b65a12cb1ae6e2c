"""CodeAct: an agent whose actions are Python programs that may call the user's tools.

Each turn, the ``codeact`` predictor sees the inputs and the trajectory (the code run so far and
what it printed) and writes the next program, or says it has finished. The programs run in one
sandbox session, so variables persist between turns; inside them each tool is a function whose
call travels to this process over the sandbox's pipes, where its arguments are validated before
the tool runs. ``extract`` (ChainOfThought over the user's signature plus the trajectory) writes
the final outputs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ..base._errors import ConfigurationError
from ..core import _compose
from ..core._compose import NewField
from ..core._module import TypedModule
from ..core._predict import ChainOfThought, Predict
from ..core._signature import Signature, spec_of
from ..observe import _instrument
from ..sandbox._sandbox import Sandbox, SandboxSession
from ..tools._tool import MAX_OBSERVATION_CHARS, Tool
from ._program_of_thought import CODE, RUNNING, clean_code, input_variables, sandbox_rules, text
from ._react import TRAJECTORY, ToolBox

S = TypeVar("S", bound=Signature)

FINISHED = NewField(
    "finished", bool, "true when the trajectory holds everything needed for the outputs"
)


@dataclass(frozen=True, slots=True)
class CodeStep:
    code: str
    observation: str


def format_code_trajectory(steps: Sequence[CodeStep]) -> str:
    parts: list[str] = []
    for i, step in enumerate(steps):
        parts.append(f"code_{i}:\n```python\n{step.code}\n```\noutput_{i}: {step.observation}")
    return "\n\n".join(parts)


def _signature_line(tool: Tool) -> str:
    required = set(tool.parameters.get("required", ()))
    args = [name if name in required else f"{name}=..." for name in tool.arg_names]
    return f"{tool.name}({', '.join(args)})"


def codeact_instructions(
    signature: type[Signature], tools: Sequence[Tool], sandbox: Sandbox
) -> str:
    spec = spec_of(signature)
    names = ", ".join(f"`{f.name}`" for f in spec.outputs)
    lines = [
        f"({i}) {_signature_line(t)}: {t.describe().split(': ', 1)[-1]}"
        for i, t in enumerate(tools, 1)
    ]
    functions = "\n".join(lines) if lines else "(none)"
    return (
        f"{spec.instructions}\n\n"
        f"You are an agent that acts by writing Python. In each turn, write generated_code "
        f"that makes progress towards {names} and prints what you need to see; it runs and its "
        f"output is appended to your trajectory. The inputs are variables of the same names, "
        f"and the variables you set persist between turns. When the "
        f"trajectory holds everything needed for {names}, set finished to true (the code is "
        f"then not run). {sandbox_rules(sandbox)}\n\n"
        f"These functions are available in the code (a failing call raises ToolError):\n"
        f"{functions}"
    )


class CodeAct(TypedModule[S]):
    """An agent that writes Python calling ``tools``, run in a sandbox, then answers.

    ``max_iters`` bounds the programs run; ``sandbox`` defaults to ``Sandbox()``. The result is
    an instance of ``signature`` with ``trajectory`` and ``reasoning``.
    """

    def __init__(
        self,
        signature: type[S],
        tools: Sequence[Tool | Callable[..., Any]] = (),
        *,
        max_iters: int = 5,
        sandbox: Sandbox | None = None,
        max_observation_chars: int = MAX_OBSERVATION_CHARS,
    ) -> None:
        if max_iters < 1:
            raise ConfigurationError("CodeAct: max_iters must be at least 1")
        self.signature = signature
        self.toolbox: ToolBox = ToolBox(tools, max_observation_chars, "CodeAct")
        self.max_iters = max_iters
        self.sandbox: Sandbox = sandbox or Sandbox()
        self.max_observation_chars = max_observation_chars
        tool_list = list(self.toolbox.tools.values())
        self.codeact: Predict[Signature] = Predict(
            _compose.derived(
                signature,
                suffix="CodeAct",
                instructions=codeact_instructions(signature, tool_list, self.sandbox),
                inputs=[TRAJECTORY],
                outputs=[CODE, FINISHED],
                owner="CodeAct",
                key=tuple(t.describe() for t in tool_list),
            )
        )
        self.extract: ChainOfThought[S] = ChainOfThought(
            _compose.with_inputs(signature, [TRAJECTORY], suffix="CodeActExtract", owner="CodeAct")
        )

    @property
    def tools(self) -> dict[str, Tool]:
        return self.toolbox.tools

    def forward(self, **inputs: Any) -> S:
        steps: list[CodeStep] = []
        with self.sandbox.session(list(self.toolbox.tools.values())) as session:
            for _ in range(self.max_iters):
                turn = self.codeact(**inputs, trajectory=format_code_trajectory(steps))
                if getattr(turn, FINISHED.name):
                    break
                steps.append(self._run(session, text(turn, CODE.name), inputs))
        answer: S = self.extract(**inputs, trajectory=format_code_trajectory(steps))
        return answer

    async def aforward(self, **inputs: Any) -> S:
        steps: list[CodeStep] = []
        with self.sandbox.session(list(self.toolbox.tools.values())) as session:
            for _ in range(self.max_iters):
                turn = await self.codeact.acall(**inputs, trajectory=format_code_trajectory(steps))
                if getattr(turn, FINISHED.name):
                    break
                code = text(turn, CODE.name)
                steps.append(await asyncio.to_thread(self._run, session, code, inputs))
        answer: S = await self.extract.acall(**inputs, trajectory=format_code_trajectory(steps))
        return answer

    def _run(self, session: SandboxSession, reply: str, inputs: Mapping[str, Any]) -> CodeStep:
        code = clean_code(reply)
        _instrument.stream_status(self.codeact, RUNNING)
        result = session.run(code, variables=input_variables(inputs))
        return CodeStep(code, result.observation(self.max_observation_chars))
