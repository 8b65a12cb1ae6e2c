"""The error the emitter raises when a program cannot be turned into a package."""

from __future__ import annotations

from castlm import CastlmError


class EmitError(Exception):
    """The program, its parameters or the output location cannot be emitted as asked.

    The message names the offending value and what to change; nothing has been written.
    """


class OutputRefused(EmitError, CastlmError):
    """The output folder holds something castlm did not write, so it was left alone.

    A user error (exit 1), not a castlm bug: the message names the folder and what to do.
    """
