"""pyright strict on every example's emitted package, vendored ``_runtime/`` included, and
``pyright --verifytypes`` on two of them.

One compile per example per session (``castlm compile`` with the labeled optimizer: the
package's code is under test, not its quality), and one pyright run over all the packages,
each with its own vendored runtime: a package vendors only the runtime modules it uses, so no
two are the same.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PYRIGHT = shutil.which("pyright", path=str(Path(sys.executable).parent))
CASTLM = shutil.which("castlm", path=str(Path(sys.executable).parent))

pytestmark = pytest.mark.skipif(PYRIGHT is None, reason="pyright is not installed (.[dev])")


@pytest.fixture(scope="session")
def example_packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each example's package folder, compiled once, keyed by the package name."""
    assert CASTLM is not None
    out = tmp_path_factory.mktemp("examples")
    packages: dict[str, Path] = {}
    examples = sorted(p.parent for p in EXAMPLES.glob("*/castlm.toml"))
    for example in examples:
        # A child process: compiling imports the example's own modules (tools, corpus).
        command = [CASTLM, "compile", str(example), "--out", str(out / example.name)]
        options = ["--optimizer", "labeled", "--no-verify", "--no-cache", "--force"]
        subprocess.run([*command, *options], check=True, capture_output=True, timeout=600)
        (package,) = [p.parent for p in (out / example.name).glob("*/py.typed")]
        packages[package.name] = package
    assert len(packages) == len(examples)
    return packages


def run_pyright(*args: str, cwd: Path, env: dict[str, str] | None = None) -> dict[str, object]:
    assert PYRIGHT is not None
    proc = subprocess.run(
        [PYRIGHT, "--outputjson", "--pythonpath", sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        env=env,
    )
    report: dict[str, object] = json.loads(proc.stdout)
    return report


def runtime_bytes(package: Path) -> dict[str, bytes]:
    root = package / "_runtime"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.py"))}


def test_pyright_strict_reports_no_error_in_any_example_package(
    example_packages: dict[str, Path], tmp_path: Path
) -> None:
    config = tmp_path / "pyrightconfig.json"
    settings = {
        "typeCheckingMode": "strict",
        # The generated `from . import _runtime as cl` uses a private name by design.
        "reportPrivateUsage": False,
        "pythonVersion": f"{sys.version_info.major}.{sys.version_info.minor}",
    }
    config.write_text(json.dumps(settings), encoding="utf-8")
    report = run_pyright("-p", str(config), *map(str, example_packages.values()), cwd=tmp_path)
    diagnostics = report["generalDiagnostics"]
    assert isinstance(diagnostics, list)
    errors = [
        f"{d['file']}:{d['range']['start']['line'] + 1}: {d['message']} ({d.get('rule')})"
        for d in diagnostics
        if d["severity"] == "error"
    ]
    assert errors == []
    summary = report["summary"]
    vendored = sum(len(runtime_bytes(p)) for p in example_packages.values())
    assert isinstance(summary, dict) and summary["filesAnalyzed"] > vendored


# triage: a ChainOfThought program; assistant (the agent example): ReAct and its tools.
@pytest.mark.parametrize("name", ["triage_bot", "assistant"])
def test_verifytypes_scores_the_package_100_percent(
    example_packages: dict[str, Path], name: str
) -> None:
    package = example_packages[name]
    # pyright finds the package through the interpreter's search path.
    env = {**os.environ, "PYTHONPATH": str(package.parent)}
    args = ("--verifytypes", package.name, "--ignoreexternal")
    report = run_pyright(*args, cwd=package.parent, env=env)
    completeness = report["typeCompleteness"]
    assert isinstance(completeness, dict)
    assert completeness["exportedSymbolCounts"]["withKnownType"] > 0, report
    problems = [
        f"{s['name']}: {[d['message'] for d in s['diagnostics']]}"
        for s in completeness["symbols"]
        if s["diagnostics"] and any(d["severity"] == "error" for d in s["diagnostics"])
    ]
    assert completeness["completenessScore"] == 1.0, problems
