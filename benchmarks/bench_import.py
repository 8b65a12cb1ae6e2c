"""Cold import: a compiled castlm package versus ``import dspy``.

castlm: examples/triage compiled with the stand-in, imported with ``python -I`` and only the
output folder added to ``sys.path`` (castlm itself must not be imported: the package vendors
its runtime), in a fresh venv holding exactly the dependencies the package declares (as a
production install would: no dev tools that a library imports when present, such as the
click and rich that httpx's command line loads). DSPy: ``python -I -c "import dspy"`` in
DSPy's venv. Each sample is the wall time of a whole process, spawn to exit, as a user or a
serverless cold start sees it; all are sampled in turn and the medians compared.

The floor, in the package's venv, is what any pydantic-and-httpx runtime pays: ``import
pydantic, httpx`` and the program's types declared as plain pydantic models. castlm's target
(castlm issue #14) is the package within ``OVER_FLOOR_MS`` of it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from harness import (
    Context,
    Result,
    Row,
    at_most_fraction,
    child_env,
    code_block,
    interleaved,
    median,
    wall_time,
)

NAME = "Cold import"
TARGET_FRACTION = 0.25
OVER_FLOOR_MS = 15.0

_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")
_STDLIB = frozenset(sys.stdlib_module_names)
_PYDANTIC = (
    "pydantic",
    "pydantic_core",
    "typing_extensions",
    "annotated_types",
    "typing_inspection",
)


def package_python(ctx: Context) -> Path:
    """A venv with exactly the dependencies the emitted package declares (made once)."""
    from bench_footprint import fresh_venv
    from harness import base_python, package_dependencies, venv_python

    folder = ctx.workdir / "venv-package"
    if not venv_python(folder).exists():
        out, _ = ctx.emitted_package()
        fresh_venv(base_python(), folder, package_dependencies(out))
    return venv_python(folder)


def castlm_command(ctx: Context, code: str = "") -> list[str | Path]:
    out, package = ctx.emitted_package()
    return [
        package_python(ctx),
        "-I",
        "-c",
        f"import sys; sys.path.insert(0, {str(out)!r}); import {package}\n"
        "assert 'castlm' not in sys.modules, 'the package imported castlm'\n" + code,
    ]


def dspy_command(ctx: Context, code: str = "") -> list[str | Path]:
    return [ctx.dspy_python, "-I", "-c", "import dspy\n" + code]


# The floor for any runtime on pydantic and httpx: both imported, and examples/triage's types
# declared as plain pydantic models (what the program itself makes pydantic build).
FLOOR = """\
from typing import Literal
import httpx
from pydantic import BaseModel, Field

class CustomerInfo(BaseModel):
    plan: Literal["free", "pro", "enterprise"] = Field(description="the subscription plan")
    product: str = Field(description="the product concerned")

class Triage(BaseModel):
    ticket: str = Field(description="the customer's message")
    reasoning: str = Field(description="step by step")
    category: Literal["billing", "bug", "account", "feature_request", "other"]
    urgent: bool = Field(description="true when the customer is blocked")
    customer: CustomerInfo
"""


def floor_command(ctx: Context, code: str = "") -> list[str | Path]:
    return [package_python(ctx), "-I", "-c", FLOOR + code]


def run(ctx: Context) -> Result:
    commands: dict[str, list[str | Path]] = {
        "castlm": castlm_command(ctx),
        "dspy": dspy_command(ctx),
        "floor": floor_command(ctx),
        "bare": [package_python(ctx), "-I", "-c", "pass"],
    }
    samples = interleaved(
        {name: _timer(cmd) for name, cmd in commands.items()}, rounds=ctx.reps(11, 3)
    )
    ms = {name: median(values) * 1000 for name, values in samples.items()}
    row = at_most_fraction("cold import", ms["castlm"], ms["dspy"], "ms", TARGET_FRACTION)
    package = ctx.emitted_package()[1]
    floor_share = ms["floor"] / ms["dspy"]
    own = ms["castlm"] - ms["floor"]
    over = Row(
        "cold import over pydantic + httpx + the program's models",
        own,
        None,
        "ms",
        None,
        "",
        f"≤ {OVER_FLOOR_MS:g} ms",
        own <= OVER_FLOOR_MS,
    )
    details = [
        f"Median of {len(samples['castlm'])} process runs each, sampled in turn (after one "
        "discarded warm-up round that also writes bytecode caches).",
        "",
        "| process | median ms | share of `import dspy` |",
        "| --- | ---: | ---: |",
        f"| castlm package (`import {package}`) | {ms['castlm']:.0f} | "
        f"{ms['castlm'] / ms['dspy']:.2f} |",
        f"| `import dspy` | {ms['dspy']:.0f} | 1.00 |",
        f"| floor: pydantic, httpx + the program's types as plain pydantic models | "
        f"{ms['floor']:.0f} | {floor_share:.2f} |",
        f"| `python -I -c pass` | {ms['bare']:.0f} | {ms['bare'] / ms['dspy']:.2f} |",
        "",
        _samples_line("castlm", samples["castlm"]),
        _samples_line("floor", samples["floor"]),
        _samples_line("DSPy", samples["dspy"]),
        "",
        f"castlm's runtime and its compiled program add {own:.0f} ms to the floor (target: "
        f"{OVER_FLOOR_MS:g} ms). ",
    ]
    if not row.ok:
        budget = max(0.0, TARGET_FRACTION * ms["dspy"] - ms["floor"])
        details[-1] += (
            f"The floor alone is {floor_share:.0%} of DSPy's import, so the target "
            f"({TARGET_FRACTION:.0%}) leaves castlm {budget:.0f} ms for everything that is "
            "not pydantic, httpx and the program's own models. The breakdown below shows where "
            "the rest goes."
        )
    details += [
        "",
        "Where the import time goes (`-X importtime`: self times summed per package, a "
        "standard-library module counted for the package that imported it; the tool's "
        "own overhead inflates the totals):",
        "",
        code_block(
            f"castlm ({package})\n{_breakdown(commands['castlm'], package)}"
            f"\n\nDSPy\n{_breakdown(commands['dspy'], 'dspy')}"
        ),
    ]
    return Result(NAME, [row, over], "\n".join(details))


def _timer(cmd: list[str | Path]) -> Callable[[], float]:
    return lambda: wall_time(cmd)


def _samples_line(name: str, values: list[float]) -> str:
    text = ", ".join(f"{v * 1000:.0f}" for v in sorted(values))
    return f"- {name} (ms, sorted): {text}"


def importtime(cmd: list[str | Path]) -> list[tuple[str, float, float, int]]:
    """``(module, self ms, cumulative ms, depth)`` for every module the command imports."""
    args = [str(cmd[0]), "-X", "importtime", *map(str, cmd[1:])]
    proc = subprocess.run(args, capture_output=True, text=True, check=True, env=child_env())
    rows = []
    for line in proc.stderr.splitlines():
        match = _LINE.match(line)
        if match:
            own, total, indent, name = match.groups()
            rows.append((name, int(own) / 1000, int(total) / 1000, len(indent) // 2))
    return rows


def group_of(module: str, package: str) -> str | None:
    """The group a module's import time is charged to; None for the standard library, which
    is charged to whoever imported it."""
    root = module.split(".")[0]
    if package != "dspy" and module.startswith(f"{package}._runtime"):
        return "castlm runtime (vendored)"
    if root == package:
        return "dspy" if package == "dspy" else "the compiled program"
    if root in _PYDANTIC:
        return "pydantic and its dependencies"
    if root.startswith("_") or root in _STDLIB:
        return None
    return root


def charged(rows: list[tuple[str, float, float, int]], package: str) -> dict[str, float]:
    """Self times summed per group, a standard-library module counting for its importer.

    ``-X importtime`` lists a module after the modules it imported (deeper indentation), so
    read backwards, each module's importer is the nearest earlier one that is less deep.
    """
    groups: dict[str, float] = defaultdict(float)
    stack: list[tuple[int, str]] = []
    for name, own, _, depth in reversed(rows):
        while stack and stack[-1][0] >= depth:
            stack.pop()
        group = group_of(name, package) or (stack[-1][1] if stack else "standard library")
        groups[group] += own
        stack.append((depth, group))
    return groups


def _breakdown(cmd: list[str | Path], package: str, top: int = 8) -> str:
    rows = importtime(cmd)
    groups = charged(rows, package)
    ranked = sorted(groups.items(), key=lambda kv: -kv[1])
    lines = [f"  {ms:7.1f} ms  {name}" for name, ms in ranked[:top]]
    rest = sum(ms for _, ms in ranked[top:])
    if rest:
        lines.append(f"  {rest:7.1f} ms  {len(ranked) - top} other groups")
    lines.append(f"  {sum(groups.values()):7.1f} ms  total, {len(rows)} modules")
    return "\n".join(lines)
