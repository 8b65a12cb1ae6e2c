"""Errors the compiler reports to the user: each names where the problem is and the fix."""

from __future__ import annotations

from pathlib import Path

from castlm import CastlmError


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
