"""Errors the compiler reports to the user: each names where the problem is and the fix."""

from __future__ import annotations

from pathlib import Path

from castlm import CastlmError, ConfigurationError, LMConnectionError, LMError, LMStatusError
from castlm.base._errors import CircuitOpenError


class CompileError(CastlmError):
    """A user mistake found while compiling (exit code 1).

    ``location`` is ``path`` or ``path:line`` (or ``path:line:col``); the message says what is
    wrong and how to fix it.
    """

    def __init__(
        self, message: str, *, path: Path | str | None = None, line: int | None = None
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.message = message
        super().__init__(f"{self.location}: {message}" if self.location else message)

    @property
    def location(self) -> str:
        if self.path is None:
            return ""
        return f"{self.path}:{self.line}" if self.line is not None else self.path


class VerifyError(CompileError):
    """The emitted package failed verification (mypy, isolated import or parity)."""


# HTTP statuses that no retry and no other example can get past: the key, the permission
# or the model name is wrong.
_FATAL_STATUSES = frozenset({401, 403, 404})


def is_fatal(exc: BaseException) -> bool:
    """Whether an error during a run stops the compile instead of failing one example.

    An unreachable endpoint, a refused key or an unknown model would fail every example the
    same way; scoring them all 0 and emitting a package optimized on nothing would hide it.
    """
    if isinstance(exc, CompileError | ConfigurationError | LMConnectionError | CircuitOpenError):
        return True
    return isinstance(exc, LMStatusError) and exc.status_code in _FATAL_STATUSES


def is_transient(exc: BaseException) -> bool:
    """Whether a failed run failed because of the endpoint (a timeout, a 5xx, a broken
    reply), anywhere in the chain of causes: rerun, it may well succeed.

    Such a failure is not cached, so replaying the run would call the LM again and could
    get an answer this time; verification does not replay it (see verify_run.py).
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, LMError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False
