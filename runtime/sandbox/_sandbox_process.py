"""The sandbox's child process, seen from the parent: start it, talk to it, kill it.

The child runs code a model wrote, so it may stop reading, flood its stdout, close it, or
write lines that only look like messages. Both pipes are therefore non-blocking and every read
and write waits on a selector with the run's deadline: the wall-clock limit holds whatever the
child does. :meth:`Child.kill` kills the child's whole process group and reaps it; it may be
called from any thread (an async caller's cancellation) and more than once.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..base._errors import SandboxError
from ._sandbox_protocol import SandboxResult, decode

_CHUNK = 65_536
# A dying process closes its pipes a moment before it can be reaped: how long to wait for its
# exit status when its stdout ends at the deadline.
_REAP_GRACE = 0.1


class Child:
    """A running child; ``send`` and ``receive`` return a result instead when it is gone."""

    def __init__(
        self, process: subprocess.Popen[bytes], workdir: str, max_line: int, timeout: float
    ) -> None:
        assert process.stdin is not None and process.stdout is not None
        self.process = process
        self.workdir = workdir
        self.max_line = max_line
        self.timeout = timeout
        self._stdin, self._stdout = process.stdin, process.stdout
        os.set_blocking(self._stdin.fileno(), False)
        os.set_blocking(self._stdout.fileno(), False)
        self._writable = selectors.DefaultSelector()
        self._writable.register(self._stdin.fileno(), selectors.EVENT_WRITE)
        self._readable = selectors.DefaultSelector()
        self._readable.register(self._stdout.fileno(), selectors.EVENT_READ)
        self._buffer = bytearray()
        self._closed = False
        # Held by the thread talking to the child; kill() from another thread leaves the
        # clean-up to it, so no descriptor is closed under a thread that is using it.
        self._io = threading.RLock()

    @classmethod
    def start(cls, argv: Sequence[str], max_line: int, timeout: float) -> Child:
        if os.name != "posix":
            raise SandboxError("the code sandbox needs a POSIX system (Linux or macOS)")
        workdir = tempfile.mkdtemp(prefix="castlm-sandbox-")
        try:
            process = subprocess.Popen(
                argv,
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
            raise SandboxError(f"could not start the sandbox ({argv[0]}): {exc}") from exc
        try:
            return cls(process, workdir, max_line, timeout)
        except BaseException:
            _kill_group(process)
            process.wait()
            shutil.rmtree(workdir, ignore_errors=True)
            raise

    def send(self, message: Mapping[str, Any], deadline: float) -> SandboxResult | None:
        """Writes one line; None when written or when the child died (``receive`` says how)."""
        data = memoryview(json.dumps(message, ensure_ascii=True).encode("ascii") + b"\n")
        with self._io:
            while data:
                if self._closed:
                    return self._gone()
                if not self._wait(self._writable, deadline):
                    return self._timed_out()
                try:
                    data = data[os.write(self._stdin.fileno(), data) :]
                except BlockingIOError:
                    continue
                except OSError:  # it closed its stdin or died
                    return None
        return None

    def receive(self, deadline: float) -> dict[str, Any] | SandboxResult:
        """The next line as a JSON object, or a result saying why none came."""
        with self._io:
            while True:
                if self._closed:
                    return self._gone()
                end = self._buffer.find(b"\n")
                if end > self.max_line or (end < 0 and len(self._buffer) > self.max_line):
                    self.kill()
                    return SandboxResult(
                        "too_large",
                        error=f"the sandbox sent a message over {self.max_line} bytes",
                    )
                if end >= 0:
                    line = bytes(self._buffer[:end])
                    del self._buffer[: end + 1]
                    return decode(line)
                if not self._wait(self._readable, deadline):
                    return self._timed_out()
                try:
                    chunk = os.read(self._stdout.fileno(), _CHUNK)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                if not chunk:
                    return SandboxResult("killed", error=self._ended(deadline))
                self._buffer += chunk

    def kill(self) -> None:
        """Kills the process group and, unless another thread is talking to it, reaps it."""
        if self.process.poll() is None:  # not reaped yet, so its group id is still its own
            _kill_group(self.process)
        if not self._io.acquire(blocking=False):
            return  # that thread's send or receive sees the child die, and calls kill again
        try:
            if self._closed:
                return
            self._closed = True
            for closable in (self._writable, self._readable, self._stdin, self._stdout):
                with contextlib.suppress(OSError):
                    closable.close()
            self.process.wait()
            shutil.rmtree(self.workdir, ignore_errors=True)
        finally:
            self._io.release()

    def _wait(self, selector: selectors.BaseSelector, deadline: float) -> bool:
        """Whether the pipe became ready before the deadline."""
        while (left := deadline - time.monotonic()) > 0:
            if selector.select(left):
                return True
        return False

    def _timed_out(self) -> SandboxResult:
        self.kill()
        return SandboxResult(
            "timeout", error=f"the code did not finish within {self.timeout:g} seconds"
        )

    def _gone(self) -> SandboxResult:
        return SandboxResult("killed", error="the sandbox was closed")

    def _ended(self, deadline: float) -> str:
        """Why the child's stdout ended; a child that closed it but lives on is killed."""
        try:
            code = self.process.wait(max(_REAP_GRACE, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.kill()
            return "the sandbox closed its output and was killed"
        self.kill()
        if code >= 0:
            return f"the process exited with status {code}"
        try:
            name = signal.Signals(-code).name
        except ValueError:  # a real-time signal
            name = f"signal {-code}"
        return {
            "SIGXCPU": "the CPU time limit was exceeded",
            "SIGKILL": "the process was killed (CPU or memory limit)",
            "SIGSEGV": "the interpreter crashed (SIGSEGV), e.g. from too deep a recursion",
            "SIGXFSZ": "the code tried to write a file",
            "SIGSYS": "the kernel filter stopped a system call it does not allow",
        }.get(name, f"the process died ({name})")


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
