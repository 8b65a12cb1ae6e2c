"""Quality on a real model: castlm against DSPy on SmolLM2-135M served by llama.cpp, offline.

    python benchmarks/quality/run.py                         # every task and optimizer
    python benchmarks/quality/run.py --tasks news --optimizers zero-shot,bootstrap

Sets up its own virtualenvs (llama-cpp-python + the model; DSPy 3.4.1), starts the server on
127.0.0.1, runs each (task, optimizer) for both systems from an empty cache through one
counting proxy, stops the server by its process id, and writes benchmarks/QUALITY.md from
every result in benchmarks/quality/results/ (so runs can be split and resumed).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import harness  # noqa: E402
import report  # noqa: E402
from server import CountingProxy, ensure_server_venv, json_line, llama_server  # noqa: E402
from suite import OPTIMIZERS, TASKS  # noqa: E402

RESULTS = HERE / "results"
SYSTEMS = ("castlm", "dspy")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--optimizers", default=",".join(OPTIMIZERS))
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--report-only", action="store_true", help="rewrite QUALITY.md only")
    args = parser.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    if not args.report_only:
        runs = [
            (t, o, s)
            for t in _names(args.tasks, TASKS)
            for o in _names(args.optimizers, OPTIMIZERS)
            for s in _names(args.systems, dict.fromkeys(SYSTEMS))
        ]
        _run_all(runs)
    report.write(RESULTS, HERE.parent / "QUALITY.md")
    print(f"wrote {HERE.parent / 'QUALITY.md'}")
    return 0


def _names(text: str, known: dict[str, Any]) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown {unknown}; choose from {', '.join(known)}")
    return names


def _run_all(runs: list[tuple[str, str, str]]) -> None:
    server_python = ensure_server_venv(harness.base_python(), _log)
    dspy_python = harness.ensure_dspy_venv(_log) if any(s == "dspy" for *_, s in runs) else None
    pythons = {"castlm": harness.project_python(), "dspy": dspy_python}
    with (
        llama_server(server_python, n_ctx=4096, threads=2, log=_log) as upstream,
        CountingProxy(upstream) as proxy,
    ):
        for task, optimizer, system in runs:
            python = pythons[system]
            assert python is not None
            result = _one(python, system, task, optimizer, proxy)
            path = RESULTS / f"{task}.{optimizer}.{system}.json"
            path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
            if "failed" not in result:
                _log(
                    f"{task:9} {optimizer:14} {system:7} dev {result['dev_score']:.3f} "
                    f"calls {result['lm_calls']:5} parse failures {result['parse_failures']:3} "
                    f"{result['wall_seconds']:7.1f} s"
                )


def _one(python: Path, system: str, task: str, optimizer: str, proxy: CountingProxy) -> Any:
    child = HERE / f"{system}_child.py"
    env = harness.dspy_env() if system == "dspy" else harness.child_env()
    with tempfile.TemporaryDirectory(prefix=f"quality-{system}-") as work:
        before = proxy.calls
        began = time.perf_counter()
        proc = subprocess.run(
            [str(python), str(child), "--task", task, "--optimizer", optimizer,
             "--base-url", proxy.base_url, "--workdir", work],
            capture_output=True, text=True, env=env, check=False, timeout=5400,
        )  # fmt: skip
        wall = time.perf_counter() - began
    if proc.returncode != 0:  # recorded, so that one failure does not end the whole run
        _log(f"{system} {task} {optimizer} failed:\n{proc.stderr[-3000:]}")
        result: dict[str, Any] = {"failed": _exception_line(proc.stderr)}
    else:
        result = json_line(proc.stdout)
    result.update(
        task=task,
        optimizer=optimizer,
        system=system,
        lm_calls=proxy.calls - before,
        wall_seconds=wall,
        machine=harness.machine(),
        versions=_versions(python, system),
    )
    return result


def _exception_line(stderr: str) -> str:
    """The last ``SomeError: message`` line of a traceback (else its last line)."""
    lines = stderr.strip().splitlines() or ["(no output)"]
    found = [line for line in lines if re.match(r"^[\w.]+(Error|Exception)\w*:", line)]
    return (found or lines)[-1][-300:]


def _versions(python: Path, system: str) -> dict[str, str | None]:
    dist = "dspy" if system == "dspy" else "pydantic"
    found = {dist: harness.installed_version(python, dist)}
    if system == "castlm":
        found["castlm"] = harness.installed_version(python, "castlm")
    return found


def _log(message: str) -> None:
    print(f"[quality {time.strftime('%H:%M:%S')}] {message}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
