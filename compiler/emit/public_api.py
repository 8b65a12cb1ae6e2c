"""The castlm names an emitted package re-exports, so callers never import ``<pkg>._runtime``.

Names castlm loads eagerly are imported eagerly; the others (batching, streaming, usage
tracking, History, Image, the HTTP LM clients) stay lazy, as in castlm itself: the generated
``__init__`` imports them for type checkers only and resolves them on first use through a
module ``__getattr__``. A name the program itself exports wins over castlm's, and a name
whose module the package does not vendor (``LiteLLMLM`` in a package compiled for
``openai/...``) is left out.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

# name -> what the README says about it
EAGER: dict[str, str] = {
    "LM": "the LM interface; subclass it, or pass an LM name to `load`",
    "CastlmError": "the base class of every error below",
    "ConfigurationError": "a wrong setting (no LM, an unknown predictor name, ...)",
    "InputError": "invalid inputs to a call",
    "ParseError": "an LM reply that could not be read or that a validator rejected",
    "GuardError": "a guard rejected a call's inputs or outputs",
    "LMError": "the base class of the LM errors below",
    "LMConnectionError": "the endpoint could not be reached",
    "LMTimeoutError": "the endpoint did not answer in time",
    "LMStatusError": "the endpoint answered with an error status",
    "LMResponseError": "the endpoint's answer was malformed",
    "CircuitOpenError": "an LM's circuit breaker is open",
    "FallbackError": "every LM of a FallbackLM failed",
    "StreamInterruptedError": "a streamed answer broke off",
}
LAZY: dict[str, str] = {
    "OpenAIChatLM": "an LM for any OpenAI-compatible endpoint",
    "RetryPolicy": "`OpenAIChatLM(retry=...)`: attempts, backoff and its cap",
    "BreakerPolicy": "`OpenAIChatLM(breaker=...)` or `lm.breaker`: a circuit breaker per endpoint",
    "RateLimit": "`OpenAIChatLM(rate_limit=...)` or `lm.rate_limit`: requests and tokens per "
    "minute",
    "LMCache": "`OpenAIChatLM(cache=LMCache(path))`: an on-disk cache of replies",
    "LiteLLMLM": "an LM through litellm (the `litellm` extra)",
    "FallbackLM": "tries several LMs in order",
    "History": "a conversation history input",
    "Image": "an image input: `Image.from_path`, `from_bytes`, `from_url`, `from_base64`",
    "Ok": "a `batch` input that succeeded (`value`, `usage`)",
    "Err": "a `batch` input that failed (`error`, `usage`)",
    "Outcome": "`Ok | Err`",
    "BatchResult": "what `program.batch(...)` returns",
    "Partial": "a streamed output field as it arrives",
    "Done": "the end of a stream: the validated result",
    "StreamEvent": "`Partial | Done`",
    "FieldDelta": "`stream`: an output field of one predictor grew by `delta`",
    "Status": "`stream`: what the program is doing, such as the tool an agent calls",
    "PredictorDone": "`stream`: one predictor call's validated result",
    "Finished": "`stream`'s last event: what `run` returns",
    "ProgramEvent": "`FieldDelta | Status | PredictorDone | Finished`",
    "ProgramStream": "what `program.listen(...)` returns: `stream`/`astream` for some outputs",
    "track_usage": "a context manager that counts LM calls, tokens and cost",
    "UsageReport": "what `track_usage` reports",
}


@dataclass(frozen=True)
class PublicNames:
    """What one package re-exports: imported now, and imported on first use."""

    eager: tuple[str, ...]
    lazy: tuple[str, ...]

    @property
    def all(self) -> tuple[str, ...]:
        return (*self.eager, *self.lazy)

    def described(self) -> list[tuple[str, str]]:
        """(name, description) for the README, in a stable order."""
        return [(name, {**EAGER, **LAZY}[name]) for name in self.all]


def public_names(taken: Collection[str], available: Collection[str]) -> PublicNames:
    """castlm's public names minus those the package binds to something of its own and those
    its vendored runtime lacks (``available`` are the names it has)."""
    return PublicNames(
        tuple(n for n in EAGER if n not in taken and n in available),
        tuple(n for n in LAZY if n not in taken and n in available),
    )
