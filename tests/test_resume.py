"""A compile killed mid-run resumes from the LM cache and leaves the previous package alone.

The compile runs as ``castlm compile`` in a subprocess; its metric writes a line to a marker
file per scored example (and sleeps a little), so the test kills it with SIGKILL once it is
well into the optimizer, with no timing assumption.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from castlm.compiler.config import load_config_file
from castlm.compiler.pipeline import compile_program
from support.project import write_project

OPTIONS = {"num_candidate_programs": 6}


def cached_calls(root: Path) -> int:
    path = root / ".castlm" / "cache.sqlite"
    with sqlite3.connect(path) as db:
        count: int = db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    return count


def compile_in_process(root: Path, optimizer: str) -> int:
    """Compile; the real LM calls it made."""
    overrides = {"verify": False, "optimizer": optimizer}
    if optimizer == "labeled":
        overrides["optimizer_options"] = {"k": 4}
    (config,) = load_config_file(root / "castlm.toml", overrides)
    return compile_program(config, force=True).lm_calls


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def kill_when(process: subprocess.Popen[bytes], marker: Path, lines: int) -> None:
    deadline = time.monotonic() + 120  # a safety net, not an assertion
    while time.monotonic() < deadline and process.poll() is None:
        if marker.is_file() and marker.read_text().count("\n") >= lines:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    process.wait()


def test_a_killed_compile_resumes_without_repeating_calls(tmp_path: Path) -> None:
    # The reference: the same compiles, uninterrupted, in a project of their own.
    reference = write_project(tmp_path / "ref", optimizer="random_search", options=OPTIONS)
    compile_in_process(reference, "labeled")
    full_run = compile_in_process(reference, "random_search")

    root = write_project(
        tmp_path / "p", optimizer="random_search", options=OPTIONS, extra="threads = 1\n"
    )
    compile_in_process(root, "labeled")  # the package a later, failed compile must not touch
    package = snapshot(root / "build")
    before = cached_calls(root)

    marker = root / "scored.txt"
    env = {**os.environ, "CASTLM_TEST_MARKER": str(marker), "CASTLM_TEST_SLEEP": "0.02"}
    command = [sys.executable, "-m", "castlm.compiler.cli", "compile", "--force", "--no-verify"]
    process = subprocess.Popen(
        command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    kill_when(process, marker, lines=6 + 30)  # the baseline's 6, then well into the search
    assert process.returncode == -signal.SIGKILL
    first_run = cached_calls(root) - before
    assert first_run > 0
    assert snapshot(root / "build") == package  # untouched, and no staging folder left over

    resumed = subprocess.run(
        [sys.executable, "-m", "castlm.compiler.cli", "compile", "--no-verify", "--json"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    outcome = json.loads(resumed.stdout)
    assert outcome["cache_hits"] > 0 and outcome["stopped"] is None
    assert outcome["lm_calls"] + first_run <= full_run
    assert snapshot(root / "build") != package
