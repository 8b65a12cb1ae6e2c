"""Resident memory after the cold import: a compiled castlm package versus ``import dspy``.

Each child imports, then prints its peak resident set size: the interpreter, the imported code
and every shared library it loaded (``resource.getrusage``'s ``ru_maxrss``, or on Linux the
same peak for the child's own address space, see ``REPORT``). The same commands as the import
benchmark; the median of several runs, in turn.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bench_import import castlm_command, dspy_command, floor_command
from harness import Context, Result, at_most_fraction, child_json, interleaved, median

NAME = "Resident memory"
TARGET_FRACTION = 0.5

# Linux: ru_maxrss also remembers the parent's RSS at fork time (the value survives exec), so
# a child of this suite would report at least the suite's own ~25 MiB. VmHWM is the peak of
# the child's own address space, which exec starts afresh; for a process started from a small
# shell the two agree. Elsewhere: ru_maxrss (bytes on macOS, KiB on Linux).
REPORT = """
import resource, sys
usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
hwm = None
try:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
except OSError:
    pass
rss = usage if sys.platform == "darwin" else usage * 1024
import json  # only after measuring
print(json.dumps({"rss": hwm or rss, "ru_maxrss": rss, "modules": len(sys.modules)}))
"""
MIB = 1024 * 1024


def run(ctx: Context) -> Result:
    references: dict[str, list[str | Path]] = {
        "castlm": castlm_command(ctx, REPORT),
        "dspy": dspy_command(ctx, REPORT),
        "floor": floor_command(ctx, REPORT),
        "bare": [ctx.castlm_python, "-I", "-c", REPORT],
    }
    modules: dict[str, int] = {}

    def sampler(name: str) -> Callable[[], float]:
        def sample() -> float:
            data = child_json(references[name])
            modules[name] = data["modules"]
            return float(data["rss"]) / MIB

        return sample

    samples = interleaved({name: sampler(name) for name in references}, rounds=ctx.reps(5, 2))
    mib = {name: median(values) for name, values in samples.items()}
    row = at_most_fraction(
        "max RSS after import", mib["castlm"], mib["dspy"], "MiB", TARGET_FRACTION
    )
    own = mib["castlm"] - mib["floor"]
    details = [
        f"Median peak RSS of {len(samples['castlm'])} runs each.",
        "",
        "| process | MiB | share of `import dspy` | modules loaded |",
        "| --- | ---: | ---: | ---: |",
    ]
    labels = {
        "castlm": "castlm package",
        "dspy": "`import dspy`",
        "floor": "floor: pydantic, httpx + the program's types as plain pydantic models",
        "bare": "`python -I -c pass`",
    }
    for name, label in labels.items():
        details.append(
            f"| {label} | {mib[name]:.1f} | {mib[name] / mib['dspy']:.3f} | {modules[name]} |"
        )
    details += [
        "",
        f"castlm's runtime and its compiled program add {own:.1f} MiB to the floor"
        f" ({own / mib['dspy']:.1%} of DSPy's figure).",
    ]
    if not row.ok:
        budget = TARGET_FRACTION * mib["dspy"] - mib["floor"]
        details[-1] += (
            f" The floor alone is {mib['floor'] / mib['dspy']:.1%} of DSPy's, which leaves "
            f"{budget:.2f} MiB under the target for castlm's whole runtime."
        )
    return Result(NAME, [row], "\n".join(details))
