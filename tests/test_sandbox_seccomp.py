"""The sandbox's kernel filter (seccomp-bpf): installed in the child, and what it denies.

Inside the sandbox the audit hook refuses these operations first, so the filter is also tested
on its own: a plain interpreter installs it and then tries what model code reaches for once
past the Python layer (``random._os``, a socket, a fork, a file opened for writing).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import castlm as cl
import pytest
from castlm.sandbox._sandbox_seccomp import build_filter

pytestmark = pytest.mark.skipif(
    sys.platform != "linux", reason="seccomp exists only on Linux: the kernel has no such filter"
)

COVERED = os.uname().machine in ("x86_64", "aarch64")
OS = "print.__globals__['sys'].modules['os']"

# Each attempt is written as model code would write it, once past the restricted builtins.
ATTEMPTS = """
import ctypes, json, os, random, socket, sys, typing
from castlm.sandbox._sandbox_child import install_filter
from castlm.sandbox._sandbox_seccomp import build_filter

target = sys.argv[1]
if sys.argv[2] == "on":
    refused = install_filter(ctypes, build_filter(os.uname().machine))
    if refused:
        print(json.dumps({"refused": refused}))
        raise SystemExit(0)

def fork():
    if os.fork() == 0:
        os._exit(0)

def attempt(action):
    try:
        action()
    except PermissionError:
        return "denied"
    except OSError:  # the call reached the file system, e.g. no such file
        pass
    return "allowed"

def execute():  # unfiltered, this replaces the process: only tried under the filter
    if sys.argv[2] == "on":
        os.execv(sys.executable, [sys.executable, "-c", "pass"])

print(json.dumps({
    "fork": attempt(fork),
    "socket": attempt(lambda: typing.sys.modules["socket"].socket().close()),
    "open for writing": attempt(lambda: open(target, "w").close()),
    "open for appending": attempt(lambda: open(target, "a").close()),
    "remove a file": attempt(lambda: os.remove(target + ".missing")),
    "signal the parent": attempt(lambda: os.kill(os.getppid(), 0)),
    # system() cannot start a shell: glibc reports that as exit status 127
    "random._os.system": "denied" if random._os.system("true") == 127 << 8 else "allowed",
    "read a file": attempt(lambda: open("/proc/self/status").read()),
    "exec": attempt(execute),
}))
"""


def attempts(tmp_path: Path, filter_on: bool) -> dict[str, str]:
    target = str(tmp_path / "written")
    done = subprocess.run(
        [sys.executable, "-c", ATTEMPTS, target, "on" if filter_on else "off"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    outcome: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    if "refused" in outcome:
        pytest.skip(f"this kernel refuses seccomp filters: {outcome['refused']}")
    return outcome


@pytest.mark.skipif(not COVERED, reason="the filter covers only x86_64 and aarch64")
def test_the_filter_denies_what_model_code_reaches_for(tmp_path: Path) -> None:
    outcome = attempts(tmp_path, filter_on=True)
    assert outcome == {
        "fork": "denied",
        "socket": "denied",
        "open for writing": "denied",
        "open for appending": "denied",
        "remove a file": "denied",
        "signal the parent": "denied",
        "random._os.system": "denied",
        "read a file": "allowed",  # what the interpreter needs still works
        "exec": "denied",
    }
    assert not (tmp_path / "written").exists()


def test_without_the_filter_the_same_attempts_succeed(tmp_path: Path) -> None:
    # The control: the denials above come from the filter, not from this machine.
    outcome = attempts(tmp_path, filter_on=False)
    assert set(outcome.values()) == {"allowed"}, outcome


@pytest.mark.skipif(not COVERED, reason="the filter covers only x86_64 and aarch64")
def test_the_sandbox_child_runs_under_the_filter() -> None:
    with cl.Sandbox().session() as session:
        pid = session.run(f"{OS}.getpid()").value
        if not session.kernel_filter and "refused" in (session.kernel_filter_note or ""):
            pytest.skip(f"this kernel refuses seccomp filters: {session.kernel_filter_note}")
        assert (session.kernel_filter, session.kernel_filter_note) == (True, None)
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines()
        assert "Seccomp:\t2" in status  # SECCOMP_MODE_FILTER
        assert "NoNewPrivs:\t1" in status
        # The child's code still runs: the modules it loaded work under the filter.
        assert session.run("import random, datetime\nrandom.random() < 1").value is True
        # ctypes, loaded to install the filter, is gone from sys.modules afterwards
        loaded = session.run("sorted(print.__globals__['sys'].modules)").value
        assert not [name for name in loaded if "ctypes" in name], loaded


def test_the_filter_can_be_turned_off_or_required() -> None:
    with cl.Sandbox(kernel_filter="off").session() as session:
        assert session.run("1 + 1").value == 2
        assert session.kernel_filter is False
        assert "turned it off" in (session.kernel_filter_note or "")
    if COVERED:
        assert cl.Sandbox(kernel_filter="require").run("6 * 7").value == 42
    with pytest.raises(cl.SandboxError, match="kernel_filter must be 'auto', 'require' or 'off'"):
        cl.Sandbox(kernel_filter="on")  # type: ignore[arg-type]


def test_no_filter_is_claimed_for_an_architecture_it_does_not_cover() -> None:
    assert build_filter("riscv64") is None
    assert build_filter("i686") is None
    program = build_filter("x86_64")
    assert program is not None and len(program) % 8 == 0  # struct sock_filter is 8 bytes
    assert len(program) // 8 < 4096  # the kernel's BPF_MAXINSNS
