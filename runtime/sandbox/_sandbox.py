"""A sandbox for model-written Python: a separate, locked-down process per session.

``Sandbox().run(code)`` starts ``python -I -S -B`` (isolated: no site-packages, no environment
variables, no user directory), with an empty environment, an empty private working directory
and only stdin/stdout/stderr open. The child (``_sandbox_child.py``) then loads the allowed
modules, drops root privileges, sets its resource limits, installs a kernel filter (seccomp,
``_sandbox_seccomp.py``) and an audit hook, and runs the code with restricted builtins. This
process enforces the wall-clock timeout whatever the child does (``_sandbox_process.py``: no
blocking read or write), reads what the child writes as untrusted input
(``_sandbox_protocol.py``), and answers the code's tool calls after validating their arguments.

What comes back is always a :class:`SandboxResult`: exceptions in the code, timeouts, memory
exhaustion, blocked operations, crashes and a child that breaks the protocol are results the
model can read, never exceptions here. :class:`castlm.SandboxError` is raised only when the
sandbox itself cannot start. See docs/agents.md for the limits and the threat model.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import os
import sys
import threading
import time
from collections.abc import Generator, Mapping, Sequence
from importlib import resources
from typing import Any, Literal

from pydantic_core import to_jsonable_python

from ..base._errors import SandboxError, ToolError
from ..observe._tool_span import execute_tool
from ..tools._tool import Tool, truncate
from ._sandbox_process import Child
from ._sandbox_protocol import ResultKind, SandboxResult, ToolCall, parse_reply
from ._sandbox_seccomp import ARCHITECTURES, build_filter

__all__ = ["DEFAULT_MODULES", "ResultKind", "Sandbox", "SandboxResult", "SandboxSession"]

#: Modules the code may import, unless a Sandbox is given another list.
DEFAULT_MODULES: tuple[str, ...] = (
    "math", "cmath", "statistics", "json", "re", "itertools", "functools", "collections",
    "fractions", "decimal", "datetime", "calendar", "random", "string", "textwrap", "heapq",
    "bisect", "operator", "numbers", "copy", "enum", "dataclasses", "typing", "unicodedata",
)  # fmt: skip

KernelFilter = Literal["auto", "require", "off"]

# Bytes of one protocol line beyond its capped texts; see Sandbox.max_line_bytes.
_LINE_SLACK = 65_536


class Sandbox:
    """Runs Python code in a separate, resource-limited process.

    ``timeout``: wall-clock seconds per run (tool calls not counted); ``cpu_seconds``: CPU
    budget of one process (a session shares it across runs; default ``2 * timeout``);
    ``memory_mb``: address-space limit; ``max_output_chars``: what ``print`` keeps (and the
    cap on an error or a value's repr); ``allowed_modules``: what the code may import (see
    :data:`DEFAULT_MODULES`); ``python``: the interpreter (default: this one);
    ``kernel_filter``: the seccomp filter: "auto" (installed where the system allows it),
    "require" (a sandbox that cannot install it does not start) or "off".
    """

    def __init__(
        self,
        *,
        timeout: float = 5.0,
        cpu_seconds: float | None = None,
        memory_mb: int = 256,
        max_output_chars: int = 10_000,
        allowed_modules: Sequence[str] = DEFAULT_MODULES,
        python: str | None = None,
        kernel_filter: KernelFilter = "auto",
    ) -> None:
        if timeout <= 0 or memory_mb < 32 or max_output_chars < 1:
            raise SandboxError("Sandbox: timeout must be > 0, memory_mb >= 32, output >= 1")
        if kernel_filter not in ("auto", "require", "off"):
            raise SandboxError(
                f"Sandbox: kernel_filter must be 'auto', 'require' or 'off', not {kernel_filter!r}"
            )
        if kernel_filter == "require" and (why := seccomp_spec()[1]):
            raise SandboxError(f"Sandbox(kernel_filter='require'): {why}")
        self.timeout = timeout
        self.cpu_seconds = max(1, round(cpu_seconds if cpu_seconds is not None else 2 * timeout))
        self.memory_mb = memory_mb
        self.max_output_chars = max_output_chars
        self.allowed_modules = tuple(allowed_modules)
        self.python = python or sys.executable
        self.kernel_filter = kernel_filter

    @property
    def max_line_bytes(self) -> int:
        """The longest line read from the child: room for output, error and repr at 12
        bytes a character (JSON escapes), plus a value's JSON."""
        return 64 * self.max_output_chars + _LINE_SLACK

    def run(
        self,
        code: str,
        *,
        variables: Mapping[str, Any] | None = None,
        tools: Sequence[Tool] = (),
    ) -> SandboxResult:
        """Run ``code`` in a fresh process; ``variables`` (JSON values) are its globals."""
        with self.session(tools) as session:
            return session.run(code, variables=variables)

    async def arun(
        self,
        code: str,
        *,
        variables: Mapping[str, Any] | None = None,
        tools: Sequence[Tool] = (),
    ) -> SandboxResult:
        """:meth:`run` on a worker thread; cancelling the caller kills the process."""
        session = SandboxSession(self, tools)
        try:
            return await asyncio.to_thread(session.run, code, variables=variables)
        finally:
            session.close()

    @contextlib.contextmanager
    def session(self, tools: Sequence[Tool] = ()) -> Generator[SandboxSession, None, None]:
        """A process whose globals persist across runs (killed on exit)."""
        session = SandboxSession(self, tools)
        try:
            yield session
        finally:
            session.close()

    def config(self, tools: Sequence[Tool]) -> dict[str, Any]:
        spec = seccomp_spec()[0] if self.kernel_filter != "off" else None
        return {
            "allowed": list(self.allowed_modules),
            "cpu_seconds": self.cpu_seconds,
            "memory_bytes": self.memory_mb * 1024 * 1024,
            "max_output_chars": self.max_output_chars,
            "max_line_bytes": self.max_line_bytes,
            "seccomp": {**spec, "required": self.kernel_filter == "require"} if spec else None,
            "tools": [{"name": t.name} for t in tools],
        }


@functools.cache
def seccomp_spec() -> tuple[dict[str, str] | None, str]:
    """The kernel filter for this machine as the child receives it, or why there is none."""
    if sys.platform != "linux":
        return None, f"seccomp exists only on Linux, not on {sys.platform}"
    machine = os.uname().machine
    program = build_filter(machine)
    if program is None:
        covered = ", ".join(ARCHITECTURES)
        return None, f"no seccomp filter for {machine} (covered: {covered})"
    return {"machine": f"{machine}/64", "program": program.hex()}, ""


class SandboxSession:
    """One sandbox process; started on the first run, restarted after a timeout or crash.

    ``kernel_filter``: whether the running process has the seccomp filter (None before the
    first run); ``kernel_filter_note``: why not. :meth:`close` is final, and may be called from
    another thread while a run is in progress (the run then ends as "killed").
    """

    def __init__(self, sandbox: Sandbox, tools: Sequence[Tool] = ()) -> None:
        self.sandbox = sandbox
        self.tools = {t.name: t for t in tools}
        self.kernel_filter: bool | None = None
        self.kernel_filter_note: str | None = None
        self._process: Child | None = None
        self._runs = itertools.count(1)
        self._closed = False
        self._lock = threading.Lock()

    def run(self, code: str, *, variables: Mapping[str, Any] | None = None) -> SandboxResult:
        child = self._child()
        try:
            result = self._converse(child, code, variables or {})
        except BaseException:  # KeyboardInterrupt, a tool's BaseException: no child outlives it
            self._discard(child)
            raise
        if result.kind not in ("ok", "error"):  # the child is gone or cannot be trusted
            self._discard(child)
        return result

    def close(self) -> None:
        with self._lock:
            self._closed = True
            child, self._process = self._process, None
        if child is not None:
            child.kill()

    def _converse(self, child: Child, code: str, variables: Mapping[str, Any]) -> SandboxResult:
        run_id = next(self._runs)
        payload = {"type": "run", "id": run_id, "code": code, "variables": _jsonable(variables)}
        deadline = time.monotonic() + self.sandbox.timeout
        while True:
            received = child.send(payload, deadline) or child.receive(deadline)
            if isinstance(received, SandboxResult):
                return received
            reply = parse_reply(received, self.sandbox.max_output_chars, run_id)
            if isinstance(reply, SandboxResult):
                return reply
            started = time.monotonic()
            payload = self._tool_reply(reply)
            deadline += time.monotonic() - started  # the tool's time is not the code's

    def _child(self) -> Child:
        with self._lock:
            if self._closed:
                raise SandboxError("this sandbox session is closed")
            if self._process is not None:
                return self._process
        child, note = _start(self.sandbox, list(self.tools.values()))
        try:
            with self._lock:
                if not self._closed:
                    self._process = child
                    self.kernel_filter, self.kernel_filter_note = note is None, note
                    return child
        except BaseException:
            child.kill()
            raise
        child.kill()
        raise SandboxError("this sandbox session was closed while its process started")

    def _discard(self, child: Child) -> None:
        with self._lock:
            if self._process is child:
                self._process = None
        child.kill()

    def _tool_reply(self, call: ToolCall) -> dict[str, Any]:
        tool = self.tools.get(call.name)
        arguments = {"args": list(call.args), "kwargs": dict(call.kwargs)}
        with execute_tool(call.name, tool.description if tool else "", arguments) as span:
            try:
                if tool is None:
                    raise ToolError(f"there is no tool {truncate(call.name, 100)!r}")
                value = tool(**_bind(tool, call.args, call.kwargs))
            except Exception as exc:
                text = str(exc) if isinstance(exc, ToolError) else f"{type(exc).__name__}: {exc}"
                span.finish(False, text, type(exc).__qualname__)
                return {"type": "tool_result", "ok": False, "error": text}
            result = _jsonable(value)
            span.finish(True, result)
            return {"type": "tool_result", "ok": True, "value": result}


def _start(sandbox: Sandbox, tools: list[Tool]) -> tuple[Child, str | None]:
    """A child that is ready to run code, and why it has no kernel filter (None: it has)."""
    argv = [sandbox.python, "-I", "-S", "-B", "-c", child_source()]
    child = Child.start(argv, sandbox.max_line_bytes, sandbox.timeout)
    try:
        deadline = time.monotonic() + max(10.0, sandbox.timeout)
        ready = child.send(sandbox.config(tools), deadline) or child.receive(deadline)
        if isinstance(ready, SandboxResult) or ready.get("type") != "ready":
            why = ready.error if isinstance(ready, SandboxResult) else ready.get("error")
            raise SandboxError(f"the sandbox did not start: {truncate(str(why), 500)}")
        note = ready.get("no_kernel_filter")
        return child, None if note is None else truncate(str(note), 500)
    except BaseException:
        child.kill()
        raise


def _bind(tool: Tool, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Positional arguments named by the tool's parameter order, then the keywords."""
    names = tool.arg_names
    if len(args) > len(names):
        raise ToolError(f"{tool.name} takes at most {len(names)} arguments, got {len(args)}")
    bound = dict(zip(names, args, strict=False))
    for key, value in kwargs.items():
        if key in bound:
            raise ToolError(f"{tool.name} got two values for {truncate(key, 100)!r}")
        bound[key] = value
    return bound


def _jsonable(value: Any) -> Any:
    try:
        return json.loads(json.dumps(to_jsonable_python(value, fallback=repr)))
    except (TypeError, ValueError):
        return repr(value)


def child_source() -> str:
    return (
        resources.files(__package__ or "castlm")
        .joinpath("_sandbox_child.py")
        .read_text(encoding="utf-8")
    )
