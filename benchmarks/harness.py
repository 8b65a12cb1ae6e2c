"""Shared benchmark machinery: environments, subprocesses, medians, the table, RESULTS.md.

Standard library only: the DSPy side of a benchmark runs in DSPy's own virtualenv, and its
child scripts import this module there too.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tomllib
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_PATH = BENCH_DIR / "RESULTS.md"

DSPY_VERSION = "3.4.1"
#: What the benchmark venv holds: DSPy and the optional dependency its MIPROv2 needs.
DSPY_BENCH_SPEC = f"dspy[optuna]=={DSPY_VERSION}"
#: What the footprint benchmark installs: DSPy as production code would depend on it.
DSPY_REQUIREMENT = f"dspy=={DSPY_VERSION}"
DSPY_VENV = BENCH_DIR / ".venv-dspy"


class BenchError(RuntimeError):
    """A benchmark could not run (a child failed, a venv could not be made)."""


# -- subprocesses --------------------------------------------------------------------------
def child_env(**extra: str) -> dict[str, str]:
    """The environment of every child: this one, with bytecode caching on.

    Installed packages come with compiled bytecode, so both frameworks are measured with
    it; a sandbox that sets ``PYTHONDONTWRITEBYTECODE`` would otherwise make every castlm
    child (an editable install, never byte-compiled by pip) recompile its sources.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(extra)
    return env


def dspy_env(**extra: str) -> dict[str, str]:
    """:func:`child_env` for DSPy children: DSPy fetches LiteLLM's model price list from
    GitHub on first use and, offline, retries with sleeps; this makes it use its bundled copy."""
    return child_env(LITELLM_LOCAL_MODEL_COST_MAP="True", **extra)


def run(
    cmd: Sequence[str | Path],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` to completion; a non-zero exit raises :class:`BenchError` with its output."""
    args = [str(c) for c in cmd]
    proc = subprocess.run(
        args,
        cwd=cwd,
        env=child_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stdout[-2000:] + "\n" + proc.stderr[-4000:]).strip()
        raise BenchError(f"command failed ({proc.returncode}): {' '.join(args)}\n{tail}")
    return proc


def child_json(cmd: Sequence[str | Path], **kwargs: Any) -> Any:
    """Run a child that prints one JSON document as its last stdout line; return it."""
    proc = run(cmd, **kwargs)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if not lines:
        raise BenchError(f"no output from {' '.join(map(str, cmd))}\n{proc.stderr[-2000:]}")
    return json.loads(lines[-1])


def wall_time(cmd: Sequence[str | Path], *, env: dict[str, str] | None = None) -> float:
    """Seconds from spawning ``cmd`` to its exit (what a user waits for)."""
    args = [str(c) for c in cmd]
    env = child_env() if env is None else env
    start = _now()
    proc = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    elapsed = _now() - start
    if proc.returncode != 0:
        raise BenchError(f"command failed: {' '.join(args)}\n{proc.stderr[-3000:]}")
    return elapsed


def _now() -> float:
    import time

    return time.perf_counter()


def median(values: Sequence[float]) -> float:
    if not values:
        raise BenchError("no samples")
    return float(statistics.median(values))


def interleaved(
    samplers: dict[str, Callable[[], float]], rounds: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Samples of several measurements taken in turn, so that a change in machine load
    during the run affects them all alike. ``warmup`` rounds are discarded."""
    samples: dict[str, list[float]] = {name: [] for name in samplers}
    for i in range(warmup + rounds):
        for name, sample in samplers.items():
            value = sample()
            if i >= warmup:
                samples[name].append(value)
    return samples


# -- environments --------------------------------------------------------------------------
def project_python() -> Path:
    """The interpreter running the suite: the project venv, where castlm is installed."""
    return Path(sys.executable)


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_dspy_venv(log: Callable[[str], None] = print) -> Path:
    """DSPy's own virtualenv (benchmarks/.venv-dspy), created from PyPI when missing."""
    python = venv_python(DSPY_VENV)
    if (
        python.exists()
        and installed_version(python, "dspy") == DSPY_VERSION
        and installed_version(python, "optuna") is not None
    ):
        return python
    log(f"creating {DSPY_VENV} with {DSPY_BENCH_SPEC} (once; reused later)")
    if not python.exists():
        run([base_python(), "-m", "venv", DSPY_VENV], timeout=300)
    run([python, "-m", "pip", "install", "-q", DSPY_BENCH_SPEC], timeout=900)
    return python


def base_python() -> Path:
    """The interpreter the project venv was made from (new venvs use the same Python)."""
    exe = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    return exe if exe.exists() else Path(sys.executable)


def installed_version(python: Path, dist: str) -> str | None:
    code = (
        "import importlib.metadata as m, sys\n"
        f"try: print(m.version({dist!r}))\n"
        "except m.PackageNotFoundError: print('')"
    )
    proc = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, check=False, env=child_env()
    )
    return proc.stdout.strip() or None


@dataclass
class Context:
    """What every benchmark gets: interpreters, a scratch folder, the compiled example."""

    workdir: Path
    castlm_python: Path
    dspy_python: Path
    quick: bool = False
    log: Callable[[str], None] = print
    _package: tuple[Path, str] | None = None

    def reps(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def emitted_package(self) -> tuple[Path, str]:
        """examples/triage compiled with the stand-in into a scratch folder: (out dir, name)."""
        if self._package is None:
            out = self.workdir / "triage_out"
            castlm = self.castlm_python.parent / "castlm"
            flags = ["--no-verify", "--no-cache", "--force"]
            run([castlm, "compile", ROOT / "examples/triage", "--out", out, *flags], timeout=300)
            name = next(p.parent.name for p in out.glob("*/manifest.json"))
            self._package = (out, name)
        return self._package


def package_dependencies(out_dir: Path) -> list[str]:
    """The runtime dependencies an emitted package declares (its pyproject.toml)."""
    with (out_dir / "pyproject.toml").open("rb") as f:
        deps: list[str] = tomllib.load(f)["project"]["dependencies"]
    return deps


# -- the fixed-latency server ------------------------------------------------------------------
@dataclass
class ServerHandle:
    port: int
    proc: subprocess.Popen[str]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def cpu_seconds(self) -> float | None:
        """CPU time the server process has used (Linux: /proc; elsewhere None)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        # utime and stime are fields 14 and 15 of stat(5), counted from the pid.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    @property
    def stats_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stats"

    def calls(self) -> dict[str, int]:
        """Chat requests received so far, per model name."""
        with urllib.request.urlopen(self.stats_url, timeout=10) as r:
            data: dict[str, int] = json.loads(r.read())
        return data


@contextlib.contextmanager
def latency_server(latency: float) -> Iterator[ServerHandle]:
    """benchmarks/latency_server.py in its own process, stopped on exit."""
    proc = subprocess.Popen(
        [sys.executable, str(BENCH_DIR / "latency_server.py"), "--latency", str(latency)],
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "READY":
            raise BenchError(f"latency server did not start: {line}")
        yield ServerHandle(int(line[1]), proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- results -------------------------------------------------------------------------------
@dataclass
class Row:
    """One line of the table: castlm's and DSPy's value, their ratio and the target."""

    label: str
    castlm: float | None
    dspy: float | None
    unit: str
    ratio: float | None
    ratio_label: str
    target: str
    ok: bool | None
    note: str = ""


def at_most_fraction(
    label: str, castlm: float, dspy: float, unit: str, fraction: float, note: str = ""
) -> Row:
    """Lower is better; castlm must be at most ``fraction`` of DSPy's value."""
    ratio = castlm / dspy
    target = f"castlm ≤ {_fraction(fraction)} of DSPy"
    return Row(label, castlm, dspy, unit, ratio, "castlm/DSPy", target, ratio <= fraction, note)


def at_least_times_less(
    label: str, castlm: float, dspy: float, unit: str, factor: float, note: str = ""
) -> Row:
    """Lower is better; DSPy's value must be at least ``factor`` times castlm's."""
    ratio = dspy / castlm
    target = f"≥ {factor:g}x less than DSPy"
    return Row(label, castlm, dspy, unit, ratio, "DSPy/castlm", target, ratio >= factor, note)


def at_least_as_high(label: str, castlm: float, dspy: float, unit: str, note: str = "") -> Row:
    """Higher is better; castlm must reach DSPy's value."""
    ratio = castlm / dspy
    return Row(label, castlm, dspy, unit, ratio, "castlm/DSPy", "≥ DSPy", ratio >= 1.0, note)


def _fraction(value: float) -> str:
    inverse = 1 / value
    return f"1/{inverse:g}" if abs(inverse - round(inverse)) < 1e-9 else f"{value:g}x"


@dataclass
class Result:
    """What one benchmark module returns: table rows and a markdown section of details."""

    name: str
    rows: list[Row] = field(default_factory=list)
    details: str = ""
    seconds: float = 0.0


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit in ("calls", "distributions"):
        return f"{value:,.0f}"
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}"


def table(rows: Sequence[Row]) -> str:
    """The markdown table of all rows."""
    lines = [
        f"| measurement | castlm | DSPy {DSPY_VERSION} | ratio | target | result |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for r in rows:
        ratio = "n/a" if r.ratio is None else f"{r.ratio:.2f} ({r.ratio_label})"
        result = {True: "pass", False: "**miss**", None: r.note or "n/a"}[r.ok]
        if r.ok is not None and r.note:
            result += f" ({r.note})"
        lines.append(
            f"| {r.label} | {fmt(r.castlm, r.unit)} | {fmt(r.dspy, r.unit)} | {ratio} "
            f"| {r.target} | {result} |"
        )
    return "\n".join(lines)


def machine() -> dict[str, str]:
    """CPU model, cores, RAM, OS and Python of this machine."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "CPU": cpu,
        "cores": f"{usable} usable ({os.cpu_count()} online)",
        "RAM": ram,
        "OS": platform.platform(),
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
    }


def versions(ctx: Context) -> dict[str, str]:
    def of(python: Path, dist: str) -> str:
        return installed_version(python, dist) or "not installed"

    return {
        "castlm": of(ctx.castlm_python, "castlm"),
        "castlm's pydantic / httpx": (
            f"{of(ctx.castlm_python, 'pydantic')} / {of(ctx.castlm_python, 'httpx')}"
        ),
        "DSPy": of(ctx.dspy_python, "dspy"),
        "DSPy's pydantic / litellm": (
            f"{of(ctx.dspy_python, 'pydantic')} / {of(ctx.dspy_python, 'litellm')}"
        ),
    }


def results_markdown(
    results: Sequence[Result],
    machine_info: dict[str, str],
    version_info: dict[str, str],
    total_seconds: float,
    date: datetime.datetime,
) -> str:
    rows = [row for result in results for row in result.rows]
    misses = [row for row in rows if row.ok is False]
    parts = [
        "# castlm vs DSPy: benchmark results",
        "",
        "Generated by `python benchmarks/run.py` (see [README.md](README.md) for the method); "
        "do not edit by hand.",
        "",
        f"Run on {date.strftime('%Y-%m-%d %H:%M UTC')}, {total_seconds:.0f} s in total.",
        "",
        "| machine | |",
        "| --- | --- |",
        *(f"| {k} | {v} |" for k, v in machine_info.items()),
        "",
        "| versions | |",
        "| --- | --- |",
        *(f"| {k} | {v} |" for k, v in version_info.items()),
        "",
        "## Results",
        "",
        table(rows),
        "",
        f"{len(rows) - len(misses)} of {len(rows)} rows meet their target"
        + (f"; misses: {', '.join(r.label for r in misses)}." if misses else "."),
        "",
    ]
    for result in results:
        if result.details:
            parts += [f"## {result.name}", "", result.details.strip(), ""]
    return "\n".join(parts)


def updated_results(
    page: str, results: Sequence[tuple[str, Result]], date: datetime.datetime
) -> str:
    """``page`` (a RESULTS.md) with the rows and sections of ``results`` (each with the name
    ``run.py --only`` knows it by) replaced, the rest kept, and the verdict line recounted."""
    rows = [row for _, result in results for row in result.rows]
    fresh = dict(zip((r.label for r in rows), table(rows).splitlines()[2:], strict=True))
    lines = page.split("\n")
    first = lines.index("## Results") + 4  # past the blank line and the table's two header lines
    last = next(i for i in range(first, len(lines)) if not lines[i].startswith("|"))
    kept = [fresh.get(_label(line), line) for line in lines[first:last]]
    known = {_label(line) for line in kept}
    kept += [line for label, line in fresh.items() if label not in known]
    lines[first:last] = kept
    lines = [_verdict(kept) if " rows meet their target" in line else line for line in lines]
    text = "\n".join(lines)
    stamp = date.strftime("%Y-%m-%d %H:%M UTC")
    for name, result in results:
        note = (
            f"Updated on {stamp} by `python benchmarks/run.py --only {name} --update` "
            f"({result.seconds:.0f} s); the other sections are from the run dated above."
        )
        text = _section_replaced(text, result.name, f"{note}\n\n{result.details.strip()}")
    return text


def _label(line: str) -> str:
    return line.split("|")[1].strip()


def _verdict(rows: Sequence[str]) -> str:
    misses = [_label(line) for line in rows if "| **miss**" in line]
    return f"{len(rows) - len(misses)} of {len(rows)} rows meet their target" + (
        f"; misses: {', '.join(misses)}." if misses else "."
    )


def _section_replaced(text: str, name: str, body: str) -> str:
    head = f"\n## {name}\n"
    if head not in text:
        return f"{text.rstrip()}\n\n## {name}\n\n{body}\n"
    before, _, rest = text.partition(head)
    after = rest[rest.index("\n## ") :] if "\n## " in rest else ""
    return f"{before}{head}\n{body}\n{after}"


def write_results(text: str, path: Path = RESULTS_PATH) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def code_block(text: str) -> str:
    return f"```text\n{text.rstrip()}\n```"
