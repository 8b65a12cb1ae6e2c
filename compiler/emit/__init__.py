"""Emitting: a compiled program as a standalone, typed Python package.

``render_package`` builds every file in memory; ``write_package`` swaps them into place
atomically. The emitted package vendors the castlm runtime and never imports castlm.
"""

from castlm.compiler.emit.errors import EmitError
from castlm.compiler.emit.render import render_package
from castlm.compiler.emit.request import EmitRequest
from castlm.compiler.emit.write import write_package

__all__ = ["EmitError", "EmitRequest", "render_package", "write_package"]
