"""The error the emitter raises when a program cannot be turned into a package."""

from __future__ import annotations


class EmitError(Exception):
    """The program, its parameters or the output location cannot be emitted as asked.

    The message names the offending value and what to change; nothing has been written.
    """
