"""The program that runs inside castlm's code sandbox (see ``_sandbox.py``).

It is started as ``python -I -S -B -c <this file's source>`` with only stdin, stdout and stderr
open, reads its configuration from the first stdin line, and then hardens itself before any
model-written code runs:

1. imports every module the code may use (nothing can be imported later);
2. drops root privileges to ``nobody`` when it has them;
3. sets resource limits: address space, CPU seconds, no file writes (``RLIMIT_FSIZE=0``), no new
   processes (``RLIMIT_NPROC=0``), no core dumps, and no new file descriptors
   (``RLIMIT_NOFILE=3``: every ``open``, ``socket`` or ``pipe`` fails, whatever opens it);
4. installs the kernel filter (seccomp-bpf) the parent built (``_sandbox_seccomp.py``), when
   there is one: from then on the kernel refuses sockets, new processes, ptrace, signals to
   other processes and file writes, whatever Python code asks for them;
5. installs an audit hook (PEP 578) that refuses file opens, process creation, sockets, ctypes,
   ``os`` operations with audit events, new imports and a few more, with ``PermissionError``.

The code then runs with a restricted set of builtins and an import allow-list; ``print`` writes
to a capped buffer. The parent and the child talk in JSON lines over stdin/stdout: ``run``
requests, ``tool_call`` requests from the code (the parent validates and runs the tool), and
one ``result`` per run. Every line it writes fits in ``max_line_bytes`` (the parent reads no
more): output, error and value repr are capped, and a value too large to send is left out
(``value_dropped``). This file imports only the standard library and must stay that way.
"""

from __future__ import annotations

import ast
import builtins
import json
import linecache
import sys
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, cast

if TYPE_CHECKING:  # never at run time: this file imports only the standard library
    from typing_extensions import TypeIs

# Builtins the code may use. Left out: open, exec, eval, compile, input, globals, locals,
# vars, breakpoint, help, memoryview, exit, quit, __loader__, __spec__.
SAFE_BUILTINS = (
    "abs", "all", "any", "ascii", "bin", "bool", "bytearray", "bytes", "callable", "chr",
    "classmethod", "complex", "delattr", "dict", "dir", "divmod", "enumerate", "filter",
    "float", "format", "frozenset", "getattr", "hasattr", "hash", "hex", "id", "int",
    "isinstance", "issubclass", "iter", "len", "list", "map", "max", "min", "next", "object",
    "oct", "ord", "pow", "property", "range", "repr", "reversed", "round", "set", "setattr",
    "slice", "sorted", "staticmethod", "str", "sum", "super", "tuple", "type", "zip",
    "ArithmeticError", "AssertionError", "AttributeError", "BaseException", "Exception",
    "FloatingPointError", "ImportError", "IndexError", "KeyError", "LookupError",
    "MemoryError", "NameError", "NotImplementedError", "OverflowError", "RecursionError",
    "RuntimeError", "StopIteration", "TypeError", "ValueError", "ZeroDivisionError",
    "NotImplemented", "Ellipsis", "False", "None", "True", "__build_class__",
)  # fmt: skip

# Modules some allowed module imports lazily, at call time: loaded now, never importable by name.
HELPERS = ("_strptime", "encodings.idna", "collections.abc")

# Audit events refused once hardened (exact names, then prefixes). "import" is refused
# outright: every allowed module is loaded before the hook goes in.
BLOCKED_EVENTS = frozenset({
    "open", "import", "builtins.input", "builtins.input/result", "subprocess.Popen",
    "pty.spawn", "code.__new__", "sys.addaudithook", "sys._current_frames",
    "resource.setrlimit", "resource.prlimit", "mmap.__new__", "pickle.find_class",
    "marshal.loads", "marshal.load", "marshal.dumps", "webbrowser.open",
})  # fmt: skip
BLOCKED_PREFIXES = (
    "os.", "socket.", "ctypes.", "shutil.", "gc.", "fcntl.", "sqlite3.", "urllib.",
    "http.", "ftplib.", "smtplib.", "poplib.", "imaplib.", "nntplib.", "telnetlib.",
    "syslog.", "winreg.", "msvcrt.", "_winapi.", "signal.", "tempfile.", "glob.",
)  # fmt: skip

_STDIN = sys.stdin.buffer
_STDOUT = sys.stdout.buffer


def encode(message: dict[str, Any]) -> bytes:
    # ASCII only: the pipe's encoding is whatever the (empty) environment implies.
    return json.dumps(message, ensure_ascii=True, default=repr).encode("ascii") + b"\n"


def send(message: dict[str, Any] | bytes) -> None:
    _STDOUT.write(message if isinstance(message, bytes) else encode(message))
    _STDOUT.flush()


def _is_object(value: object) -> TypeIs[dict[str, Any]]:
    """A JSON object from the parent (``_narrow.is_object``: this file cannot import it)."""
    # isinstance() leaves the key type unknown; the cast says only "objects", then checks them.
    keys = cast("dict[object, Any]", value) if isinstance(value, dict) else None
    return keys is not None and all(isinstance(k, str) for k in keys)


def receive() -> dict[str, Any] | None:
    line = _STDIN.readline()
    if not line:
        return None
    message = json.loads(line)
    return message if _is_object(message) else None


class Output:
    """What ``print`` writes: kept up to ``limit`` characters, the rest only counted."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def write(self, text: str) -> int:
        room = self.limit - self.size
        if room > 0:
            kept = text[:room]
            self.parts.append(kept)
            self.size += len(kept)
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def flush(self) -> None:
        pass

    def take(self) -> tuple[str, int]:
        text, dropped = "".join(self.parts), self.dropped
        self.parts, self.size, self.dropped = [], 0, 0
        return text, dropped


class ToolError(RuntimeError):
    """Raised inside the code when a tool call fails (bad arguments, or the tool raised)."""


class Limits:
    """What one message may hold: ``chars`` of output, error or repr; ``line`` bytes in all."""

    def __init__(self, chars: int, line: int) -> None:
        self.chars = chars
        self.line = line

    def cap(self, text: str) -> str:
        if len(text) <= self.chars:
            return text
        return f"{text[: self.chars]}... [truncated: {len(text) - self.chars} more characters]"


def preload(names: list[str]) -> list[str]:
    """Import the allowed modules now; those that do not exist here are left out."""
    loaded: list[str] = []
    for name in [*names, *HELPERS]:
        try:
            __import__(name)
        except ImportError:
            continue
        if name not in HELPERS:
            loaded.append(name)
    return loaded


def harden(config: dict[str, Any]) -> str | None:
    """Applies every limit; returns why the kernel filter is not installed (None: it is)."""
    import os
    import resource

    os.closerange(3, 4096)  # only stdin, stdout and stderr stay open
    seccomp = config.get("seccomp")
    install = load_filter(seccomp) if _is_object(seccomp) else None
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        nobody = int(config.get("nobody", 65534))
        os.setgroups([])
        os.setgid(nobody)
        os.setuid(nobody)
    cpu = int(config["cpu_seconds"])
    # SIGXCPU at the soft limit says why the process ended; SIGKILL a second later is final.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    limits = [
        (resource.RLIMIT_FSIZE, 0),
        (resource.RLIMIT_NOFILE, 3),
        (resource.RLIMIT_CORE, 0),
    ]
    if config.get("memory_bytes"):
        limits.append((resource.RLIMIT_AS, int(config["memory_bytes"])))
    if hasattr(resource, "RLIMIT_NPROC"):
        limits.append((resource.RLIMIT_NPROC, 0))
    for which, value in limits:
        resource.setrlimit(which, (value, value))
    sys.setrecursionlimit(int(config.get("recursion_limit", 1000)))
    off = "the parent turned it off or does not cover this system"
    why_not = install() if install is not None else off
    if why_not is not None and _is_object(seccomp) and seccomp.get("required"):
        raise OSError(f"the kernel filter (seccomp) could not be installed: {why_not}")
    sys.addaudithook(_make_hook(BLOCKED_EVENTS, BLOCKED_PREFIXES))
    return why_not


def load_filter(spec: dict[str, Any]) -> Callable[[], str | None] | None:
    """Loads ctypes while files can still be opened; the returned function installs the filter
    and says why when it cannot."""
    import os

    machine = f"{os.uname().machine}/{sys.maxsize.bit_length() + 1}"
    if spec.get("machine") != machine:
        return lambda: f"built for {spec.get('machine')}, but this interpreter is {machine}"
    try:
        import ctypes
    except ImportError as exc:
        why = f"ctypes is not available: {exc}"
        return lambda: why
    program = bytes.fromhex(str(spec.get("program", "")))
    return lambda: install_filter(ctypes, program)


def install_filter(ctypes: Any, program: bytes) -> str | None:
    """Installs the seccomp-bpf ``program`` (struct sock_filter[]); returns why it failed."""

    class SockFprog(ctypes.Structure):  # type: ignore[misc]
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.restype = ctypes.c_int
    code = ctypes.create_string_buffer(program, len(program))
    fprog = SockFprog(len(program) // 8, ctypes.cast(code, ctypes.c_char_p))
    zero = ctypes.c_ulong(0)
    # PR_SET_NO_NEW_PRIVS (38) lets an unprivileged process install a filter;
    # PR_SET_SECCOMP (22) with SECCOMP_MODE_FILTER (2) installs it, for good.
    if libc.prctl(38, ctypes.c_ulong(1), zero, zero, zero) != 0:
        return f"prctl(PR_SET_NO_NEW_PRIVS) failed: {os_error(ctypes.get_errno())}"
    if libc.prctl(22, ctypes.c_ulong(2), ctypes.byref(fprog), zero, zero) != 0:
        return f"the kernel refused seccomp: {os_error(ctypes.get_errno())}"
    for name in [n for n in sys.modules if n == "ctypes" or n.startswith(("ctypes.", "_ctypes"))]:
        del sys.modules[name]  # the code cannot import them; the audit hook refuses their calls
    return None


def os_error(number: int) -> str:
    import os

    return f"{os.strerror(number)} (errno {number})"


def _make_hook(
    blocked: frozenset[str], prefixes: tuple[str, ...]
) -> Callable[[str, tuple[Any, ...]], None]:
    # The hook looks only at the event name (a str), never at arguments the code controls,
    # so code cannot run inside it; what it refuses lives in closure cells, not globals.
    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event in blocked or event.startswith(prefixes):
            raise PermissionError(f"the sandbox does not allow {event}")

    return hook


def restricted_import(allowed: frozenset[str]) -> Callable[..., Any]:
    real_import = builtins.__import__

    def sandbox_import(
        name: str,
        globals: Any = None,
        locals: Any = None,
        fromlist: Any = (),
        level: int = 0,
    ) -> Any:
        if name in HELPERS:  # C code importing its helper (datetime's strptime), loaded already
            return real_import(name, globals, locals, fromlist, level)
        if level != 0 or name.split(".")[0] not in allowed:
            raise ImportError(
                f"import of {name!r} is not allowed in the sandbox; "
                f"allowed modules: {', '.join(sorted(allowed))}"
            )
        return real_import(name, globals, locals, fromlist, level)

    return sandbox_import


def make_globals(
    allowed: frozenset[str], output: Output, tools: list[dict[str, Any]], limits: Limits
) -> dict[str, Any]:
    safe = {name: getattr(builtins, name) for name in SAFE_BUILTINS if hasattr(builtins, name)}
    real_print = builtins.print

    def sandbox_print(
        *values: Any, sep: str | None = " ", end: str | None = "\n", **_: Any
    ) -> None:
        real_print(*values, sep=sep, end=end, file=output)

    safe["print"] = sandbox_print
    safe["__import__"] = restricted_import(allowed)
    safe["ToolError"] = ToolError
    namespace: dict[str, Any] = {"__builtins__": safe, "__name__": "__sandbox__"}
    for tool in tools:
        namespace[str(tool["name"])] = tool_stub(str(tool["name"]), limits)
    return namespace


def tool_stub(name: str, limits: Limits) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        line = encode({"type": "tool_call", "name": name, "args": list(args), "kwargs": kwargs})
        if len(line) > limits.line:
            raise ToolError(
                f"the arguments of {name} are too large to send: {len(line)} bytes of JSON, "
                f"at most {limits.line}"
            )
        send(line)
        reply = receive()
        if reply is None:
            raise SystemExit(0)  # the parent went away
        if not reply.get("ok"):
            raise ToolError(str(reply.get("error")))
        return reply.get("value")

    call.__name__ = call.__qualname__ = name
    return call


def run(
    code: str, namespace: dict[str, Any], output: Output, number: int, limits: Limits, run_id: Any
) -> bytes:
    """Runs ``code``; the result line echoes ``run_id``, so the parent can tell it from a line
    the code forged in an earlier run."""
    filename = f"<sandbox-{number}>"
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    try:
        tree = ast.parse(code, filename, "exec")
        tail = tree.body[-1] if tree.body else None
        if isinstance(tail, ast.Expr):  # a last bare expression is the run's value, as in a REPL
            tree.body.pop()
        exec(compile(tree, filename, "exec"), namespace)
        value: Any = None
        if isinstance(tail, ast.Expr):
            value = eval(compile(ast.Expression(body=tail.value), filename, "eval"), namespace)
    except BaseException as exc:  # everything the code does wrong is a result, not a crash
        printed, dropped = output.take()
        error = limits.cap(describe(exc, filename))
        return encode(
            {
                "type": "result",
                "run": run_id,
                "ok": False,
                "output": printed,
                "dropped": dropped,
                "error": error,
            }
        )
    printed, dropped = output.take()
    result = {
        "type": "result",
        "run": run_id,
        "ok": True,
        "output": printed,
        "dropped": dropped,
        "value": jsonable(value),
        "value_repr": None if value is None else limits.cap(safe_repr(value)),
    }
    line = encode(result)
    if len(line) > limits.line:  # the value's JSON alone is too large: its repr says enough
        line = encode({**result, "value": None, "value_dropped": True})
    return line


def describe(exc: BaseException, filename: str) -> str:
    """The error, with the traceback lines that point into the code (not into castlm)."""
    try:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
        lines = [f"line {f.lineno}: {f.line}" for f in frames[-3:] if f.line]
        head = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return "\n".join([*lines, head]) if lines else head
    except BaseException:  # formatting can fail too, e.g. out of memory
        return type(exc).__name__


def jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except BaseException:
        return None
    return value


def safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except BaseException as exc:
        return f"<unprintable {type(value).__name__}: {type(exc).__name__}>"


def fail(message: str) -> NoReturn:
    send({"type": "fatal", "error": message})
    raise SystemExit(1)


def main() -> None:
    config = receive()
    if config is None:
        fail("no configuration")
    allowed = frozenset(preload([str(n) for n in config.get("allowed", [])]))
    chars = int(config.get("max_output_chars", 10_000))
    output = Output(chars)
    limits = Limits(chars, int(config.get("max_line_bytes", 1_000_000)))
    try:
        no_filter = harden(config)
    except Exception as exc:  # refuse to run unhardened
        fail(f"could not apply the sandbox limits: {type(exc).__name__}: {exc}")
    namespace = make_globals(allowed, output, list(config.get("tools", [])), limits)
    send({"type": "ready", "allowed": sorted(allowed), "no_kernel_filter": no_filter})
    number = 0
    while (request := receive()) is not None:
        if request.get("type") != "run":
            break
        number += 1
        namespace.update(request.get("variables") or {})
        code = str(request.get("code", ""))
        send(run(code, namespace, output, number, limits, request.get("id")))


if __name__ == "__main__":
    main()
