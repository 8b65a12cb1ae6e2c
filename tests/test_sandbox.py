"""The code sandbox: what code may do, escape attempts that must fail safely (and be reported
as observations), limits, tool call-backs; ProgramOfThought and CodeAct on top of it."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import castlm as cl
import pytest
from castlm.testing import ScriptedLM

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the sandbox needs POSIX")

SANDBOX = cl.Sandbox(timeout=2.0, memory_mb=256)
# What escape attempts reach for once past the restricted builtins: the child's own modules.
SYS = "print.__globals__['sys']"
OS = f"{SYS}.modules['os']"


def run(code: str, **options: object) -> cl.SandboxResult:
    sandbox = cl.Sandbox(**options) if options else SANDBOX  # type: ignore[arg-type]
    return sandbox.run(code)


def test_code_runs_prints_and_returns_its_last_expression() -> None:
    result = run("import math, statistics\nx = math.sqrt(16)\nprint('x is', x)\nx * 2")
    assert result.kind == "ok"
    assert (result.output, result.value, result.value_repr) == ("x is 4.0\n", 8.0, "8.0")
    assert result.observation() == "x is 4.0\n8.0"
    assert run("import datetime\ndatetime.date(2024, 2, 29).isoformat()").value == "2024-02-29"
    assert run("{'a': [1, 2]}").value == {"a": [1, 2]}
    assert run("class P:\n    pass\nP()").value_repr.startswith("<__sandbox__.P object")  # type: ignore[union-attr]
    assert run("variables").kind == "error"
    with_vars = SANDBOX.run("price * qty", variables={"price": 2.5, "qty": 4})
    assert with_vars.value == 10.0


def test_exceptions_and_syntax_errors_are_results() -> None:
    failed = run("x = 1\n1 / 0")
    assert failed.kind == "error"
    assert failed.observation() == "Error: line 2: 1 / 0\nZeroDivisionError: division by zero"
    assert "SyntaxError" in (run("def (").error or "")
    assert "NameError: name 'SystemExit' is not defined" in (run("raise SystemExit(2)").error or "")


@pytest.mark.parametrize(
    ("name", "code", "expected"),
    [
        ("import os", "import os", "import of 'os' is not allowed"),
        ("import subprocess", "import subprocess", "import of 'subprocess' is not allowed"),
        ("import socket", "import socket", "import of 'socket' is not allowed"),
        ("import ctypes", "import ctypes", "import of 'ctypes' is not allowed"),
        ("relative import", "from . import x", "is not allowed"),
        ("open()", "open('/etc/passwd').read()", "name 'open' is not defined"),
        ("eval", "eval('1')", "name 'eval' is not defined"),
        ("__import__ of os", "__import__('os')", "import of 'os' is not allowed"),
        (
            "subclasses to os.system",
            "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close']"
            "[0].__init__.__globals__['system']('id')",
            "the sandbox does not allow os.system",
        ),
        ("builtins.open", f"{SYS}.modules['builtins'].open('/etc/passwd')", "does not allow open"),
        ("os.open", f"{OS}.open('/etc/passwd', 0)", "does not allow open"),
        (
            "real import of a new module",
            f"{SYS}.modules['builtins'].__import__('socket')",
            "does not allow import",
        ),
        ("fork", f"{SYS}.modules['posix'].fork()", "does not allow os.fork"),
        ("os.system", f"{OS}.system('touch /tmp/castlm-pwned')", "does not allow os.system"),
        ("listdir", f"{OS}.listdir('/')", "does not allow os.listdir"),
        ("kill the parent", f"{OS}.kill({OS}.getppid(), 9)", "does not allow os.kill"),
        ("remove a file", f"{OS}.remove('/tmp/x')", "does not allow os.remove"),
        (
            "raise the limits",
            f"r = {SYS}.modules['resource']; r.setrlimit(r.RLIMIT_NOFILE, (1024, 1024))",
            "does not allow resource.setrlimit",
        ),
        ("read stdin", f"{SYS}.modules['builtins'].input()", "does not allow builtins.input"),
        # os and builtins stay reachable through allowed modules: the layers below still hold
        ("random._os.system", "import random\nrandom._os.system('id')", "does not allow os.system"),
        ("random._os.fork", "import random\nrandom._os.fork()", "does not allow os.fork"),
        (
            "typing.sys to builtins.open",
            "import typing\ntyping.sys.modules['builtins'].open('/tmp/castlm-pwned', 'w')",
            "does not allow open",
        ),
        (
            "typing.sys to a socket",
            "import typing\ntyping.sys.modules['builtins'].__import__('socket').socket()",
            "does not allow import",
        ),
    ],
)
def test_escape_attempts_fail_and_are_reported(name: str, code: str, expected: str) -> None:
    result = run(code)
    assert result.kind == "error", name
    assert expected in result.observation(), result.observation()
    assert result.observation().startswith("Error: ")
    assert not Path("/tmp/castlm-pwned").exists()


def test_the_process_itself_is_locked_down() -> None:
    probe = (
        f"r = {SYS}.modules['resource']\n"
        "[r.getrlimit(x)[0] for x in (r.RLIMIT_NOFILE, r.RLIMIT_FSIZE, r.RLIMIT_NPROC, "
        "r.RLIMIT_AS, r.RLIMIT_CPU)]"
    )
    assert run(probe).value == [3, 0, 0, 256 * 1024 * 1024, 4]
    assert run(f"{OS}.environ.copy()").value == {"LC_ALL": "C.UTF-8"}
    if os.geteuid() == 0:  # root drops to nobody before any code runs
        assert run(f"{OS}.getuid()").value == 65534
    assert run(f"{SYS}.flags.isolated, {SYS}.flags.no_site").value == [1, 1]


def test_limits_stop_runaway_code() -> None:
    assert "MemoryError" in (run("x = 'a' * (10 ** 10)").error or "")
    assert "MemoryError" in (run("b = bytearray(2 * 1024 ** 3)").error or "")
    assert "RecursionError" in (run("def f(n):\n    return f(n + 1)\nf(0)").error or "")
    loop = run("while True:\n    pass", timeout=0.5)
    assert loop.kind == "timeout"
    assert loop.observation() == "Error: the code did not finish within 0.5 seconds"
    cpu = run("while True:\n    pass", timeout=10.0, cpu_seconds=1)
    assert cpu.kind == "killed" and "CPU time limit" in (cpu.error or "")


def test_output_is_truncated() -> None:
    result = run("for i in range(10000):\n    print('xxxxxxxxx')", max_output_chars=50)
    assert result.kind == "ok"
    assert result.output.startswith("xxxxxxxxx\n" * 5)
    assert result.output.endswith("[output truncated: 99950 more characters]")
    assert len(run("'y' * 100000", max_output_chars=100).value_repr or "") < 200


def test_a_session_keeps_globals_and_survives_a_timeout() -> None:
    with cl.Sandbox(timeout=0.5).session() as session:
        assert session.run("total = 40").kind == "ok"
        assert session.run("total + 2").value == 42
        assert session.run("while True:\n    pass").kind == "timeout"
        assert "NameError" in (session.run("total").error or "")  # a fresh process
        assert session.run("1 + 1").value == 2


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def fail(reason: str) -> str:
    """Always fails."""
    raise ValueError(reason)


def test_code_calls_tools_with_validated_arguments() -> None:
    tools = [cl.Tool(add), cl.Tool(fail)]
    assert SANDBOX.run("add(2, 3) * 10", tools=tools).value == 50
    assert SANDBOX.run("add(a=1, b='2')", tools=tools).value == 3
    bad = SANDBOX.run("add(1, b='two')", tools=tools)
    assert "ToolError: invalid arguments for add: b: Input should be a valid integer" in (
        bad.error or ""
    )
    caught = SANDBOX.run(
        "try:\n    fail('no')\nexcept ToolError as e:\n    print('caught', e)", tools=tools
    )
    assert caught.output == "caught ValueError: no\n"
    assert "add takes at most 2 arguments" in (SANDBOX.run("add(1, 2, 3)", tools=tools).error or "")


def test_the_sandbox_runs_from_async_code() -> None:
    assert asyncio.run(SANDBOX.arun("6 * 7")).value == 42


# -- a child that misbehaves on its pipes ----------------------------------------------------
# Once past the restricted builtins, code can write raw protocol lines: the child's own send()
# and stdout are in print.__globals__.
SEND = "print.__globals__['send']"
STDOUT = "print.__globals__['_STDOUT']"


def forge(**fields: object) -> str:
    """Code that writes a result line of its own for run 2 (a session's second run)."""
    return f"{SEND}({ {'type': 'result', 'run': 2, **fields}!r})"


def gone(pid: int) -> bool:
    """Whether the process is dead and reaped (a zombie still answers signal 0)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def big(size: int) -> str:
    """A large reply."""
    return "x" * size


def in_thread(action: Callable[[], object]) -> list[object]:
    """Runs ``action`` with a bound on how long the test waits for it (a hang fails fast)."""
    box: list[object] = []
    worker = threading.Thread(target=lambda: box.append(action()), daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "the sandbox host hung"
    return box


def test_a_child_that_stops_reading_cannot_block_the_host() -> None:
    # A forged tool call asks for a reply larger than the pipe holds; the child then blocks
    # writing to its stdout instead of reading. The host used to block forever in write().
    code = (
        f"{SEND}({{'type': 'tool_call', 'name': 'big', 'args': [2_000_000], 'kwargs': {{}}}})\n"
        f"{STDOUT}.write(b'y' * 10_000_000)"
    )
    with cl.Sandbox(timeout=1.0).session([cl.Tool(big)]) as session:
        pid = session.run(f"{OS}.getpid()").value
        [result] = in_thread(lambda: session.run(code))
        assert isinstance(result, cl.SandboxResult)
        assert result.kind == "timeout"
        assert result.error == "the code did not finish within 1 seconds"
        assert gone(pid)
        assert session.run("1 + 1").value == 2  # a fresh process


@pytest.mark.parametrize(
    ("name", "code", "expected"),
    [
        ("dropped is not a number", forge(ok=True, dropped="zz"),
         "a result whose 'dropped' is not a count: 'zz'"),
        ("dropped is infinite", f"{STDOUT}.write(b'{{\"type\": \"result\", \"run\": 2, '"
         f"b'\"ok\": true, \"dropped\": 1e999}}\\n'); {STDOUT}.flush()",
         "'dropped' is not a count: inf"),
        ("dropped is a bool", forge(ok=True, dropped=True), "'dropped' is not a count: True"),
        ("no ok", forge(output="x"), "without a boolean 'ok'"),
        ("output not a string", forge(ok=True, output=[1]), "a string 'output'"),
        ("error not a string", forge(ok=False, error=3), "without a string 'error'"),
        ("value_repr not a string", forge(ok=True, value_repr=1),
         "'value_repr' or 'value_dropped' has the wrong type"),
        ("run id not a number", forge(ok=True, run="2"), "a result for run '2' during run 2"),
        ("unknown type", f"{SEND}({{'type': 'ready'}})", "unexpected message type 'ready'"),
        ("bad tool call", f"{SEND}({{'type': 'tool_call', 'name': 'add', 'args': 5}})",
         "a tool call without a name"),
        ("not JSON", f"{STDOUT}.write(b'hello\\n'); {STDOUT}.flush()", "not JSON"),
        ("not UTF-8", f"{STDOUT}.write(b'\\xff\\xfe\\n'); {STDOUT}.flush()", "not JSON"),
        ("not an object", f"{STDOUT}.write(b'[1]\\n'); {STDOUT}.flush()", "not a JSON object"),
        ("nested too deeply", f"{STDOUT}.write(b'[' * 100_000 + b'\\n'); {STDOUT}.flush()",
         "nested too deeply"),
        ("an integer too long", f"{STDOUT}.write(b'{{\"ok\": ' + b'9' * 5000 + b'}}\\n');"
         f" {STDOUT}.flush()", "not JSON"),
    ],
)  # fmt: skip
def test_forged_lines_are_protocol_results_not_host_exceptions(
    name: str, code: str, expected: str
) -> None:
    with SANDBOX.session([cl.Tool(add)]) as session:
        pid = session.run(f"{OS}.getpid()").value
        result = session.run(code)
        assert result.kind == "protocol", (name, result)
        assert expected in (result.error or ""), result.error
        assert result.error.startswith("the sandbox broke its protocol: ")  # type: ignore[union-attr]
        assert gone(pid)  # a child that broke the protocol is not trusted again
        assert session.run("2 + 2").value == 4


def test_a_forged_result_cannot_stand_in_for_a_later_run() -> None:
    with SANDBOX.session() as session:
        # The code may pick its own result (as if it had ended with 42)...
        forged = session.run(f"{SEND}({{'type': 'result', 'run': 1, 'ok': True, 'value': 42}})")
        assert forged.value == 42
        # ...but its real result, still in the pipe, is not taken for the next run's.
        stale = session.run("1 + 1")
        assert stale.kind == "protocol"
        assert stale.error == "the sandbox broke its protocol: a result for run 1 during run 2"
        assert session.run("1 + 1").value == 2


def test_a_flood_without_newlines_is_too_large_and_a_closed_stdout_is_killed() -> None:
    flood = run(f"{STDOUT}.write(b'z' * 5_000_000); {STDOUT}.flush()", max_output_chars=100)
    assert flood.kind == "too_large"
    assert flood.error == "the sandbox sent a message over 71936 bytes"
    closed = run(f"{OS}.close(1)\nwhile True:\n    pass", timeout=1.0)
    assert (closed.kind, closed.error) == ("killed", "the sandbox closed its output and was killed")


def test_large_legitimate_results_come_back_capped_not_killed() -> None:
    value = run("list(range(300_000))")
    assert (value.kind, value.value, value.value_dropped) == ("ok", None, True)
    assert (value.value_repr or "").startswith("[0, 1, 2, 3")
    assert (value.value_repr or "").endswith("... [truncated: 2278890 more characters]")
    assert run("list(range(1000))").value == list(range(1000))  # small values still arrive
    error = run("raise ValueError('e' * 1_000_000)", max_output_chars=100)
    assert error.kind == "error"
    assert (error.error or "").endswith("... [truncated: 999954 more characters]")
    emoji = run("print('\\U0001F600' * 199)\n'\\U0001F600' * 200", max_output_chars=200)
    assert emoji.kind == "ok" and emoji.output == "\U0001f600" * 199 + "\n"
    tools = [cl.Tool(add)]
    sent = SANDBOX.run("add(list(range(1_000_000)), 1)", tools=tools)
    assert sent.kind == "error"
    assert "ToolError: the arguments of add are too large to send" in (sent.error or "")


def stall(pid: int) -> str:
    """Records the sandbox's process id."""
    STARTED.append(pid)
    return "go on"


STARTED: list[int] = []


def interrupt(pid: int) -> str:
    """Stands for Ctrl-C arriving while a tool runs."""
    STARTED.append(pid)
    raise KeyboardInterrupt


def test_an_interrupt_kills_and_reaps_the_child() -> None:
    STARTED.clear()
    with SANDBOX.session([cl.Tool(interrupt)]) as session:
        with pytest.raises(KeyboardInterrupt):
            session.run(f"interrupt({OS}.getpid())")
        assert gone(STARTED[0])  # already, not only when the session closes


def test_closing_a_session_from_another_thread_ends_its_run() -> None:
    # What CodeAct's async path does when cancelled: the session closes while a worker thread
    # is inside run().
    STARTED.clear()
    with cl.Sandbox(timeout=120.0).session([cl.Tool(stall)]) as session:

        def close_when_started() -> None:
            while not STARTED:
                time.sleep(0.01)
            session.close()

        closer = threading.Thread(target=close_when_started, daemon=True)
        closer.start()
        [result] = in_thread(lambda: session.run(f"stall({OS}.getpid())\nwhile True:\n    pass"))
        closer.join()
        assert isinstance(result, cl.SandboxResult) and result.kind == "killed"
        assert gone(STARTED[0])
        with pytest.raises(cl.SandboxError, match="this sandbox session is closed"):
            session.run("1")


def test_cancelling_an_async_run_kills_and_reaps_the_child() -> None:
    STARTED.clear()
    sandbox = cl.Sandbox(timeout=120.0)

    async def cancel_while_running() -> None:
        task = asyncio.create_task(
            sandbox.arun(f"stall({OS}.getpid())\nwhile True:\n    pass", tools=[cl.Tool(stall)])
        )
        while not STARTED:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The worker thread reaps it as soon as it sees it die; it would otherwise run 120 s
        # (and asyncio.run would wait for that thread).
        for _ in range(3000):
            if gone(STARTED[0]):
                break
            await asyncio.sleep(0.01)
        assert gone(STARTED[0])

    asyncio.run(cancel_while_running())


def test_bad_settings_are_refused() -> None:
    with pytest.raises(cl.SandboxError):
        cl.Sandbox(timeout=0)
    with pytest.raises(cl.SandboxError, match="could not start"):
        cl.Sandbox(python="/nonexistent/python").run("1")


# -- ProgramOfThought and CodeAct -------------------------------------------------------------
class Sum(cl.Signature):
    """Add the numbers."""

    numbers: list[int] = cl.InputField()
    total: int = cl.OutputField()


def sections(**fields: object) -> str:
    body = "\n\n".join(f"[[ ## {k} ## ]]\n{v}" for k, v in fields.items())
    return f"{body}\n\n[[ ## completed ## ]]"


def test_program_of_thought_runs_code_fixes_it_and_answers() -> None:
    lm = ScriptedLM(
        [
            sections(reasoning="Sum them.", generated_code="```python\ntotal(numbers)\n```"),
            sections(reasoning="Use sum.", generated_code="sum(numbers)"),
            sections(reasoning="The code printed it.", total=6),
        ]
    )
    program = cl.ProgramOfThought(Sum, max_iters=2, sandbox=SANDBOX)
    program.set_lm(lm)
    with cl.trace() as steps:
        result = program(numbers=[1, 2, 3])
    assert result.total == 6
    assert result.code == "sum(numbers)"  # type: ignore[attr-defined]
    assert [s.predictor for s in steps] == [program.generate, program.regenerate, program.extract]
    assert "NameError: name 'total' is not defined" in steps[1].inputs["error"]
    assert [n for n, _ in program.named_predictors()] == ["generate", "regenerate", "extract"]


def test_program_of_thought_reports_a_failure_to_the_extract_step() -> None:
    lm = ScriptedLM(
        [
            sections(reasoning="x", generated_code="import os\nos.getcwd()"),
            sections(reasoning="No code result; guess.", total=0),
        ]
    )
    program = cl.ProgramOfThought(Sum, max_iters=1, sandbox=SANDBOX)
    program.set_lm(lm)
    result = program(numbers=[1])
    assert "import of 'os' is not allowed" in result.code_output  # type: ignore[attr-defined]


def test_program_of_thought_survives_code_that_forges_a_result() -> None:
    forged = f"{SEND}({{'type': 'result', 'run': 1, 'ok': True, 'dropped': 'zz'}})"
    lm = ScriptedLM(
        [
            sections(reasoning="x", generated_code=forged),
            sections(reasoning="The sandbox broke; guess.", total=0),
        ]
    )
    program = cl.ProgramOfThought(Sum, max_iters=1, sandbox=SANDBOX)
    program.set_lm(lm)
    result = program(numbers=[1])  # used to raise ValueError in this process
    assert "Error: the sandbox broke its protocol" in result.code_output  # type: ignore[attr-defined]


def test_codeact_runs_code_that_calls_tools_and_keeps_state() -> None:
    lm = ScriptedLM(
        [
            sections(generated_code="partial = add(numbers[0], numbers[1])\nprint(partial)",
                     finished="false"),
            sections(generated_code="print(add(partial, numbers[2]))", finished="false"),
            sections(generated_code="", finished="true"),
            sections(reasoning="It printed 6.", total=6),
        ]
    )  # fmt: skip
    agent = cl.CodeAct(Sum, tools=[add], sandbox=SANDBOX)
    agent.set_lm(lm)
    result = agent(numbers=[1, 2, 3])
    assert result.total == 6
    assert "output_0: 3" in result.trajectory  # type: ignore[attr-defined]
    assert "output_1: 6" in result.trajectory  # type: ignore[attr-defined]
    system = lm.requests[0].messages[0]["content"]
    assert "(1) add(a, b): Add two integers." in system
    assert [n for n, _ in agent.named_predictors()] == ["codeact", "extract"]
