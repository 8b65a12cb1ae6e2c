"""The code sandbox: what code may do, escape attempts that must fail safely (and be reported
as observations), limits, tool call-backs; ProgramOfThought and CodeAct on top of it."""

from __future__ import annotations

import asyncio
import os
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
