"""A sandbox for model-written Python: a separate, locked-down process per session.

``Sandbox().run(code)`` starts ``python -I -S -B`` (isolated: no site-packages, no environment
variables, no user directory), with an empty environment, an empty private working directory
and only stdin/stdout/stderr open. The child (``_sandbox_child.py``) then loads the allowed
modules, drops root privileges, sets its resource limits, installs an audit hook, and runs the
code with restricted builtins. This process enforces the wall-clock timeout (it kills the
child's whole process group), caps what it reads back, and answers the code's tool calls after
validating their arguments.

What comes back is always a :class:`SandboxResult`: exceptions in the code, timeouts, memory
exhaustion, blocked operations and crashes are results the model can read, never exceptions
here. :class:`castlm.SandboxError` is raised only when the sandbox itself cannot start. See
docs/agents.md for the limits and the threat model.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import IO, Any, Literal

from pydantic_core import to_jsonable_python

from ._errors import SandboxError, ToolError
from ._tool import Tool, truncate

#: Modules the code may import, unless a Sandbox is given another list.
DEFAULT_MODULES: tuple[str, ...] = (
    "math", "cmath", "statistics", "json", "re", "itertools", "functools", "collections",
    "fractions", "decimal", "datetime", "calendar", "random", "string", "textwrap", "heapq",
    "bisect", "operator", "numbers", "copy", "enum", "dataclasses", "typing", "unicodedata",
)  # fmt: skip

ResultKind = Literal["ok", "error", "timeout", "killed"]

# Bytes of one protocol line beyond which the child is assumed to misbehave.
_LINE_SLACK = 65_536


@dataclass(frozen=True, slots=True)
class SandboxResult:
    """The outcome of one run.

    ``kind``: "ok"; "error" (the code raised, or did something the sandbox refuses);
    "timeout" (the wall-clock limit); "killed" (the process died: CPU or memory limit, a
    crash). ``output`` is what the code printed (capped), ``value`` the JSON value of a final
    bare expression (None if there was none or it is not JSON), ``value_repr`` its repr.
    """

    kind: ResultKind
    output: str = ""
    value: Any = None
    value_repr: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.kind == "ok"

    def observation(self, max_chars: int = 4000) -> str:
        """What a model is shown: the output, the value, or what went wrong."""
        parts = []
        if self.output:
            parts.append(self.output.rstrip("\n"))
        if self.ok and self.value_repr is not None:
            parts.append(self.value_repr)
        if not self.ok:
            parts.append(f"Error: {self.error}")
        return truncate("\n".join(parts) if parts else "(no output)", max_chars)


class Sandbox:
    """Runs Python code in a separate, resource-limited process.

    ``timeout``: wall-clock seconds per run (tool calls not counted); ``cpu_seconds``: CPU
    budget of one process (a session shares it across runs; default ``2 * timeout``);
    ``memory_mb``: address-space limit; ``max_output_chars``: what ``print`` keeps;
    ``allowed_modules``: what the code may import (see :data:`DEFAULT_MODULES`);
    ``python``: the interpreter (default: this one).
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
    ) -> None:
        if timeout <= 0 or memory_mb < 32 or max_output_chars < 1:
            raise SandboxError("Sandbox: timeout must be > 0, memory_mb >= 32, output >= 1")
        self.timeout = timeout
        self.cpu_seconds = max(1, round(cpu_seconds if cpu_seconds is not None else 2 * timeout))
        self.memory_mb = memory_mb
        self.max_output_chars = max_output_chars
        self.allowed_modules = tuple(allowed_modules)
        self.python = python or sys.executable

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
        return await asyncio.to_thread(self.run, code, variables=variables, tools=tools)

    @contextlib.contextmanager
    def session(self, tools: Sequence[Tool] = ()) -> Iterator[SandboxSession]:
        """A process whose globals persist across runs (closed on exit)."""
        session = SandboxSession(self, tools)
        try:
            yield session
        finally:
            session.close()

    def config(self, tools: Sequence[Tool]) -> dict[str, Any]:
        return {
            "allowed": list(self.allowed_modules),
            "cpu_seconds": self.cpu_seconds,
            "memory_bytes": self.memory_mb * 1024 * 1024,
            "max_output_chars": self.max_output_chars,
            "tools": [{"name": t.name} for t in tools],
        }


class SandboxSession:
    """One sandbox process; started on the first run, restarted after a timeout or crash."""

    def __init__(self, sandbox: Sandbox, tools: Sequence[Tool] = ()) -> None:
        self.sandbox = sandbox
        self.tools = {t.name: t for t in tools}
        self._process: _Child | None = None

    def run(self, code: str, *, variables: Mapping[str, Any] | None = None) -> SandboxResult:
        child = self._child()
        payload = {"type": "run", "code": code, "variables": _jsonable(variables or {})}
        child.send(payload)
        deadline = time.monotonic() + self.sandbox.timeout
        while True:
            message = child.receive(deadline)
            if isinstance(message, SandboxResult):  # timed out or died
                self.close()
                return message
            kind = message.get("type")
            if kind == "result":
                return self._result(message)
            if kind != "tool_call":
                self.close()
                return SandboxResult("killed", error=f"the sandbox broke its protocol: {kind!r}")
            started = time.monotonic()
            child.send(self._tool_reply(message))
            deadline += time.monotonic() - started  # the tool's time is not the code's

    def close(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process = None

    def _child(self) -> _Child:
        if self._process is None:
            self._process = _Child.start(self.sandbox, list(self.tools.values()))
        return self._process

    def _result(self, message: Mapping[str, Any]) -> SandboxResult:
        output = str(message.get("output") or "")
        dropped = int(message.get("dropped") or 0)
        if dropped:
            output += f"\n... [output truncated: {dropped} more characters]"
        if not message.get("ok"):
            return SandboxResult("error", output, error=str(message.get("error")))
        value_repr = message.get("value_repr")
        return SandboxResult(
            "ok",
            output,
            message.get("value"),
            truncate(str(value_repr), self.sandbox.max_output_chars) if value_repr else None,
        )

    def _tool_reply(self, message: Mapping[str, Any]) -> dict[str, Any]:
        name = str(message.get("name"))
        tool = self.tools.get(name)
        try:
            if tool is None:
                raise ToolError(f"there is no tool {name!r}")
            args = _bind(tool, message.get("args") or [], message.get("kwargs") or {})
            value = tool(**args)
            return {"type": "tool_result", "ok": True, "value": _jsonable(value)}
        except Exception as exc:
            text = str(exc) if isinstance(exc, ToolError) else f"{type(exc).__name__}: {exc}"
            return {"type": "tool_result", "ok": False, "error": text}


def _bind(tool: Tool, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Positional arguments named by the tool's parameter order, then the keywords."""
    names = tool.arg_names
    if len(args) > len(names):
        raise ToolError(f"{tool.name} takes at most {len(names)} arguments, got {len(args)}")
    bound = dict(zip(names, args, strict=False))
    for key, value in kwargs.items():
        if key in bound:
            raise ToolError(f"{tool.name} got two values for {key!r}")
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


class _Child:
    """The running child process, with a thread that reads its protocol lines."""

    def __init__(
        self, process: subprocess.Popen[bytes], workdir: str, limit: int, timeout: float
    ) -> None:
        self.process = process
        self.timeout = timeout
        self.workdir = workdir
        self.lines: queue.Queue[bytes | None] = queue.Queue()
        self.limit = limit
        assert process.stdout is not None
        self.reader = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self.reader.start()

    @classmethod
    def start(cls, sandbox: Sandbox, tools: list[Tool]) -> _Child:
        if os.name != "posix":
            raise SandboxError("the code sandbox needs a POSIX system (Linux or macOS)")
        workdir = tempfile.mkdtemp(prefix="castlm-sandbox-")
        try:
            process = subprocess.Popen(
                [sandbox.python, "-I", "-S", "-B", "-c", child_source()],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                cwd=workdir,
                env={"LC_ALL": "C.UTF-8"},
                close_fds=True,
                start_new_session=True,  # its own process group, killed as one
            )
        except OSError as exc:
            shutil.rmtree(workdir, ignore_errors=True)
            raise SandboxError(f"could not start the sandbox ({sandbox.python}): {exc}") from exc
        child = cls(process, workdir, sandbox.max_output_chars * 8 + _LINE_SLACK, sandbox.timeout)
        child.send(sandbox.config(tools))
        ready = child.receive(time.monotonic() + max(10.0, sandbox.timeout))
        if isinstance(ready, SandboxResult) or ready.get("type") != "ready":
            child.kill()
            why = ready.error if isinstance(ready, SandboxResult) else ready.get("error")
            raise SandboxError(f"the sandbox did not start: {why}")
        return child

    def send(self, message: Mapping[str, Any]) -> None:
        assert self.process.stdin is not None
        data = json.dumps(message, ensure_ascii=True).encode("ascii") + b"\n"
        try:
            self.process.stdin.write(data)
            self.process.stdin.flush()
        except OSError:  # it died; receive() reports how
            pass

    def receive(self, deadline: float) -> dict[str, Any] | SandboxResult:
        """The next message, or a result saying why none will come."""
        try:
            line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            self.kill()
            return SandboxResult(
                "timeout", error=f"the code did not finish within {self.timeout:g} seconds"
            )
        if line is None:
            return SandboxResult("killed", error=self._death())
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            self.kill()
            return SandboxResult("killed", error="the sandbox sent something unreadable")
        return message

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            if self.process.stdin is not None:
                self.process.stdin.close()
        self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _read(self, stream: IO[bytes]) -> None:
        while True:
            line = stream.readline(self.limit)
            if not line:
                break
            if not line.endswith(b"\n"):  # longer than any honest message
                self.lines.put(b"oversized")
                break
            self.lines.put(line)
        self.lines.put(None)

    def _death(self) -> str:
        code = self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)
        if code < 0:
            name = signal.Signals(-code).name
            why = {
                "SIGXCPU": "the CPU time limit was exceeded",
                "SIGKILL": "the process was killed (CPU or memory limit)",
                "SIGSEGV": "the interpreter crashed (SIGSEGV), e.g. from too deep a recursion",
                "SIGXFSZ": "the code tried to write a file",
            }.get(name, f"the process died ({name})")
            return why
        return f"the process exited with status {code}"
