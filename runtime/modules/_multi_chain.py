"""MultiChainComparison: sample M reasoned answers, then compare them to write the final one.

``generate`` (ChainOfThought over the user's signature) runs M times: the first as configured,
the others sampled (``temperature``) with their own rollout ids. ``compare`` (ChainOfThought over
the signature plus an ``attempts`` input listing the M answers with their reasoning) writes the
final outputs, as in DSPy's MultiChainComparison.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, TypeVar

from ..base._errors import ConfigurationError
from ..core import _compose
from ..core._adapter import format_value
from ..core._compose import NewField
from ..core._context import context, current
from ..core._module import TypedModule
from ..core._predict import ChainOfThought
from ..core._signature import Signature, spec_of

S = TypeVar("S", bound=Signature)

ATTEMPTS = NewField(
    "attempts", str, "independent attempts at this task, each with its reasoning and answer"
)


class MultiChainComparison(TypedModule[S]):
    """Answers ``signature`` by comparing ``M`` independent chain-of-thought attempts.

    The result is an instance of ``signature`` with ``attempts`` and ``reasoning``.
    """

    def __init__(self, signature: type[S], *, M: int = 3, temperature: float = 0.7) -> None:
        if M < 1:
            raise ConfigurationError("MultiChainComparison: M must be at least 1")
        self.signature = signature
        self.M = M
        self.temperature = temperature
        self.generate = ChainOfThought(signature)
        self.compare = ChainOfThought(
            _compose.with_inputs(
                signature, [ATTEMPTS], suffix="Comparison", owner="MultiChainComparison"
            )
        )

    def forward(self, **inputs: Any) -> S:
        attempts: list[S] = []
        for number in range(self.M):
            with self._sampling(number):
                attempts.append(self.generate(**inputs))
        answer: S = self.compare(**inputs, attempts=self.format_attempts(attempts))
        return answer

    async def aforward(self, **inputs: Any) -> S:
        async def one(number: int) -> S:
            with self._sampling(number):
                result: S = await self.generate.acall(**inputs)
                return result

        attempts = await asyncio.gather(*(one(n) for n in range(self.M)))
        answer: S = await self.compare.acall(**inputs, attempts=self.format_attempts(attempts))
        return answer

    def _sampling(self, number: int) -> Any:
        if number == 0:
            return context()
        base = current().rollout
        rollout = number if base is None else base * 1000 + number
        return context(temperature=self.temperature, rollout=rollout)

    def format_attempts(self, attempts: Sequence[Signature]) -> str:
        spec = spec_of(self.generate.signature)
        blocks: list[str] = []
        for i, attempt in enumerate(attempts, 1):
            lines = [f"Attempt {i}:"]
            for f in spec.outputs:
                lines.append(f"{f.name}: {format_value(f, getattr(attempt, f.name, None))}")
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks)
