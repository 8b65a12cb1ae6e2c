"""Packages emitted by the knn, ensemble and finetune optimizers, built once per test session.

``castlm compile`` (the CLI, offline, stand-in LM) builds one package per optimizer from a
copy of examples/triage whose program also defines an ensemble reducer; the finetune compile
talks to a local fake fine-tuning API. mypy --strict then checks all three packages in ONE
run (it is the slow part), and :func:`run_castlm_free` runs a package where castlm cannot
be imported.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from castlm.compiler.cli import main
from castlm.compiler.verify import castlm_free_command

from support.fake_finetune import FakeFineTune
from support.triage_task import TRIAGE

REDUCER = '''

def vote(outputs: list[Triage]) -> Triage:
    """Ensemble reducer: the most common category wins; its first output is returned."""
    categories = [o.category for o in outputs]
    best = max(categories, key=categories.count)
    return next(o for o in outputs if o.category == best)
'''

PACKAGES = {
    "knn": ("knn_bot", ["k=3"]),
    "ensemble": ("ensemble_bot", ["size=3", "reduce=program.py:vote"]),
    "finetune": ("finetune_bot", ["poll_interval=0.01"]),
}
RUNNER = Path(__file__).with_name("run_package.py")


@dataclass(frozen=True)
class Built:
    root: Path
    outs: dict[str, Path]  # optimizer -> output folder
    summaries: dict[str, dict[str, Any]]  # optimizer -> `castlm compile --json` output
    mypy: subprocess.CompletedProcess[str]
    trained: dict[str, list[dict[str, Any]]]  # fine-tuned model -> its training records
    finetune_requests: int

    def package(self, optimizer: str) -> str:
        return PACKAGES[optimizer][0]


@functools.cache
def built() -> Built:
    root = Path(tempfile.mkdtemp(prefix="castlm-optimizer-packages-"))
    atexit.register(shutil.rmtree, root, True)
    project = _project(root / "project")
    outs: dict[str, Path] = {}
    summaries: dict[str, dict[str, Any]] = {}
    with FakeFineTune(polls=2) as server:
        for optimizer, (package, options) in PACKAGES.items():
            extra = [f"base_url={server.base_url}"] if optimizer == "finetune" else []
            outs[optimizer] = root / "out" / optimizer
            summaries[optimizer] = _compile(
                project, outs[optimizer], optimizer, package, options + extra
            )
        trained, requests = dict(server.trained), len(server.requests)
    folders = [str(outs[o] / PACKAGES[o][0]) for o in PACKAGES]
    mypy = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--config-file=", "--no-color-output",
         "--cache-dir", str(root / "mypy-cache"), *folders],
        capture_output=True, text=True, cwd=root,
    )  # fmt: skip
    return Built(root, outs, summaries, mypy, trained, requests)


def _project(folder: Path) -> Path:
    folder.mkdir(parents=True)
    program = (TRIAGE / "program.py").read_text(encoding="utf-8") + REDUCER
    (folder / "program.py").write_text(program, encoding="utf-8")
    shutil.copytree(TRIAGE / "data", folder / "data")
    config = (TRIAGE / "castlm.toml").read_text(encoding="utf-8")
    (folder / "castlm.toml").write_text(config.split("[optimizer_options]")[0], encoding="utf-8")
    return folder


def _compile(
    project: Path, out: Path, optimizer: str, package: str, options: list[str]
) -> dict[str, Any]:
    args = ["compile", str(project), "--out", str(out), "--package", package]
    args += ["--optimizer", optimizer, "--force", "--no-verify", "--json"]
    for option in options:
        args += ["--option", option]
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(args)
    assert code == 0, stdout.getvalue()
    summary: dict[str, Any] = json.loads(stdout.getvalue())
    return summary


def run_castlm_free(optimizer: str, inputs: list[dict[str, Any]]) -> dict[str, Any]:
    """The package run where castlm is not importable (see support/run_package.py)."""
    out = built().outs[optimizer]
    command = castlm_free_command(out, RUNNER, built().package(optimizer), json.dumps(inputs))
    env = {**os.environ, "CASTLM_MODEL": "standin"}
    env.pop("CASTLM_EMBEDDER", None)
    done = subprocess.run(command, capture_output=True, text=True, cwd=out, env=env)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result
