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
