"""castlm's one exception hierarchy.

Every error a user can meet derives from :class:`CastlmError`, so application code can catch
castlm's failures with one ``except`` while still telling the kinds apart.
"""

from __future__ import annotations


class CastlmError(Exception):
    """Base class of every error castlm raises."""


class SignatureError(CastlmError, TypeError):
    """A Signature class is declared wrongly (raised when the class is created)."""


class InputError(CastlmError, ValueError):
    """A predictor was called with missing, unknown or ill-typed inputs."""


class ConfigurationError(CastlmError):
    """Something castlm needs (an LM, a setting) is missing or invalid."""


class LMError(CastlmError):
    """A language-model request failed."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class LMConnectionError(LMError):
    """The LM endpoint could not be reached (refused, DNS, dropped connection)."""


class LMTimeoutError(LMError):
    """The LM endpoint did not answer in time."""


class LMStatusError(LMError):
    """The LM endpoint answered with an HTTP error status."""


class LMResponseError(LMError):
    """The LM endpoint answered with a body that is not a valid completion."""


class ParseError(CastlmError, ValueError):
    """An LM reply could not be parsed into the signature's output fields.

    ``raw`` holds the reply exactly as the model sent it.
    """

    def __init__(self, message: str, *, raw: str, signature: str = "") -> None:
        super().__init__(message)
        self.raw = raw
        self.signature = signature


class CacheError(CastlmError):
    """The on-disk cache could not be used (reported, then bypassed)."""


class StreamInterruptedError(LMConnectionError):
    """A streamed answer broke off after part of it had been delivered.

    It is not retried behind the caller's back: the caller has already seen ``text`` (what
    arrived before the break), and a second answer would not continue it.
    """

    def __init__(self, message: str, *, text: str = "") -> None:
        super().__init__(message)
        self.text = text


class CircuitOpenError(LMError):
    """The endpoint's circuit breaker is open: the call failed fast, without a request.

    ``retry_in`` is how many seconds remain until the breaker lets a trial call through.
    """

    def __init__(self, message: str, *, retry_in: float = 0.0) -> None:
        super().__init__(message)
        self.retry_in = retry_in


class FallbackError(LMError):
    """Every LM of a fallback chain failed; ``errors`` holds each one's error, in order."""

    def __init__(self, message: str, *, errors: tuple[LMError, ...]) -> None:
        super().__init__(message, status_code=errors[-1].status_code if errors else None)
        self.errors = errors


class GuardError(CastlmError, ValueError):
    """A guard rejected a predictor's inputs or outputs."""


class ToolError(CastlmError):
    """A tool was given invalid arguments, or failed when called directly.

    Agents (ReAct, CodeAct) never raise it: they show the message to the model instead.
    """


class SandboxError(CastlmError):
    """The code sandbox could not run at all (it could not start, or broke its protocol).

    Failures of the code itself (exceptions, timeouts, limits) are results, not errors.
    """


class MCPError(CastlmError):
    """An MCP server could not be reached, or answered outside the protocol."""
