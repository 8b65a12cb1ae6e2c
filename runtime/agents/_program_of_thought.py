"""ProgramOfThought: the model writes Python, the sandbox runs it, the model reads the result.

``generate`` writes code for the inputs; it runs in a :class:`castlm.Sandbox`; when it fails,
``regenerate`` sees the code and the error and writes a fix (up to ``max_iters`` programs in
all); ``extract`` then writes the outputs from the inputs, the last program and what it printed
(or why it failed). All three are ChainOfThought predictors, optimized like any other.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic_core import to_jsonable_python

from ..base._errors import ConfigurationError
from ..core import _compose
from ..core._compose import NewField
from ..core._module import TypedModule
from ..core._predict import ChainOfThought
from ..core._signature import Signature, spec_of
from ..observe import _instrument
from ..sandbox._sandbox import Sandbox, SandboxResult

S = TypeVar("S", bound=Signature)

_FENCE = re.compile(r"```[ \t]*(?:python|py)?[ \t]*\n(.*?)(?:```|$)", re.DOTALL | re.IGNORECASE)
CODE = NewField("generated_code", str, "Python code only, without Markdown fences")
# The status a program stream shows while the sandbox runs the model's code.
RUNNING = "running the generated code in the sandbox"


def clean_code(text: str) -> str:
    """The code in a reply: the first fenced block when there is one, else the whole text."""
    match = _FENCE.search(text)
    return (match.group(1) if match else text).strip("\n")


def _names(fields: Sequence[Any]) -> str:
    return ", ".join(f"`{f.name}`" for f in fields)


def sandbox_rules(sandbox: Sandbox) -> str:
    return (
        f"The code runs in a sandbox: it may import only {', '.join(sandbox.allowed_modules)}; "
        f"it cannot read or write files, use the network or start processes; it has "
        f"{sandbox.timeout:g} seconds. Print what you need to see, or end with an expression "
        f"whose value is the result."
    )


class ProgramOfThought(TypedModule[S]):
    """Answers ``signature`` by writing and running Python in a sandbox.

    ``max_iters``: programs written in all (the first, then fixes); ``sandbox``: where they
    run (default: ``Sandbox()``). The result is an instance of ``signature`` with ``code``
    (the last program), ``code_output`` (what it printed, or its error) and ``reasoning``.
    """

    def __init__(
        self, signature: type[S], *, max_iters: int = 3, sandbox: Sandbox | None = None
    ) -> None:
        if max_iters < 1:
            raise ConfigurationError("ProgramOfThought: max_iters must be at least 1")
        self.signature = signature
        self.max_iters = max_iters
        self.sandbox: Sandbox = sandbox or Sandbox()
        spec = spec_of(signature)
        task = (
            f"{spec.instructions}\n\nWrite Python code that computes {_names(spec.outputs)} "
            f"from {_names(spec.inputs)}, which the code finds as variables of the same names. "
            f"{sandbox_rules(self.sandbox)}"
        )
        self.generate: ChainOfThought[Signature] = ChainOfThought(
            _compose.derived(
                signature,
                suffix="Code",
                instructions=task,
                inputs=[],
                outputs=[CODE],
                owner="ProgramOfThought",
            )
        )
        self.regenerate: ChainOfThought[Signature] = ChainOfThought(
            _compose.derived(
                signature,
                suffix="CodeFix",
                instructions=f"{task}\n\nThe previous code failed; fix it.",
                inputs=[
                    NewField("previous_code", str, "the code that failed"),
                    NewField("error", str, "what went wrong when it ran"),
                ],
                outputs=[CODE],
                owner="ProgramOfThought",
            )
        )
        self.extract: ChainOfThought[S] = ChainOfThought(
            _compose.with_inputs(
                signature,
                [
                    NewField("code", str, "a program written for these inputs"),
                    NewField("code_output", str, "what the program printed, or its error"),
                ],
                suffix="CodeAnswer",
                owner="ProgramOfThought",
            )
        )

    def forward(self, **inputs: Any) -> S:
        variables = input_variables(inputs)
        code = clean_code(text(self.generate(**inputs), CODE.name))
        _instrument.stream_status(self.generate, RUNNING)
        result = self.sandbox.run(code, variables=variables)
        for _ in range(self.max_iters - 1):
            if result.ok:
                break
            fix = self.regenerate(**inputs, previous_code=code, error=_error(result))
            code = clean_code(text(fix, CODE.name))
            _instrument.stream_status(self.regenerate, RUNNING)
            result = self.sandbox.run(code, variables=variables)
        return self._answer(inputs, code, result)

    async def aforward(self, **inputs: Any) -> S:
        variables = input_variables(inputs)
        code = clean_code(text(await self.generate.acall(**inputs), CODE.name))
        _instrument.stream_status(self.generate, RUNNING)
        result = await self.sandbox.arun(code, variables=variables)
        for _ in range(self.max_iters - 1):
            if result.ok:
                break
            fix = await self.regenerate.acall(**inputs, previous_code=code, error=_error(result))
            code = clean_code(text(fix, CODE.name))
            _instrument.stream_status(self.regenerate, RUNNING)
            result = await self.sandbox.arun(code, variables=variables)
        answer: S = await self.extract.acall(**inputs, code=code, code_output=result.observation())
        return answer

    def _answer(self, inputs: Mapping[str, Any], code: str, result: SandboxResult) -> S:
        answer: S = self.extract(**inputs, code=code, code_output=result.observation())
        return answer


def input_variables(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs as JSON values, which the sandboxed code sees as variables."""
    return {name: to_jsonable_python(value, fallback=str) for name, value in inputs.items()}


def text(prediction: Signature, name: str) -> str:
    """An output of a derived signature (mypy cannot see its fields)."""
    return str(getattr(prediction, name))


def _error(result: SandboxResult) -> str:
    return result.observation()
