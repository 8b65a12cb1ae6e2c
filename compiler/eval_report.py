"""What ``castlm eval`` reports: per-row results, each target's score with its confidence
interval, latency percentiles and LM use, the paired comparison, and the CI gates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import eval_stats
from .eval_run import TargetRun

_ERROR_CHARS = 80


@dataclass(frozen=True)
class Gates:
    fail_under: float | None = None
    #: Fail when A is significantly worse than B (eval_stats.Paired.worse) at this level.
    fail_if_worse: bool = False
    alpha: float = 0.05


def summary(runs: Sequence[TargetRun], gates: Gates) -> dict[str, Any]:
    """The ``--json`` document; the text output prints the same facts."""
    data: dict[str, Any] = {"targets": [_target(run) for run in runs]}
    if len(runs) == 2:
        data["comparison"] = _comparison(runs[0], runs[1], gates.alpha)
    data["failures"] = failures(data, gates)
    return data


def _scores(run: TargetRun) -> list[float]:
    return [r.score for r in run.result.results]


def _target(run: TargetRun) -> dict[str, Any]:
    scores = _scores(run)
    ci = eval_stats.interval(scores)
    usage = run.usage
    results = run.result.results
    return {
        "target": run.label,
        "kind": run.kind,
        "lm": run.lm_name,
        "rows": len(results),
        "score": round(eval_stats.mean(scores), 4),
        "ci95": [round(ci.low, 4), round(ci.high, 4)],
        "ci_method": ci.method,
        "errors": run.result.errors,
        "latency_s": eval_stats.latency([r.seconds for r in results]),
        "lm_calls": usage.calls,
        "cache_hits": usage.cache_hits,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "cost": None if usage.cost is None else round(usage.cost, 6),
        "seconds": round(usage.seconds, 3),
        "results": [
            {"row": r.index, "score": r.score, "seconds": round(r.seconds, 4), "error": r.error}
            for r in results
        ],
    }


def _comparison(a: TargetRun, b: TargetRun, alpha: float) -> dict[str, Any]:
    test = eval_stats.paired(_scores(a), _scores(b))
    return {
        "difference": round(test.difference, 4),
        "ci95": [round(test.interval.low, 4), round(test.interval.high, 4)],
        "ci_method": test.interval.method,
        "wins": test.wins,
        "losses": test.losses,
        "ties": test.ties,
        "test": "exact sign test (two-sided)",
        "p_value": round(test.p_value, 6),
        "alpha": alpha,
        "significantly_worse": test.worse(alpha),
    }


def failures(data: dict[str, Any], gates: Gates) -> list[str]:
    """Why the gates fail, one message each; empty when they pass."""
    found = []
    first = data["targets"][0]
    if gates.fail_under is not None and first["score"] < gates.fail_under:
        found.append(
            f"{first['target']} scores {first['score']:.2f}, below --fail-under "
            f"{gates.fail_under:g}"
        )
    comparison = data.get("comparison")
    if gates.fail_if_worse and comparison is not None and comparison["significantly_worse"]:
        other = data["targets"][1]
        found.append(
            f"{first['target']} is significantly worse than {other['target']}: "
            f"{comparison['difference']:+.2f} points, it wins {comparison['wins']} rows and "
            f"loses {comparison['losses']}, sign test p = {comparison['p_value']:.4g} < "
            f"{gates.alpha:g}"
        )
    return found


def print_summary(console: Any, data: dict[str, Any]) -> None:
    targets = data["targets"]
    _print_rows(console, targets)
    for name, target in zip("AB", targets, strict=False):
        low, high = target["ci95"]
        latency = target["latency_s"]
        cost = "unknown" if target["cost"] is None else f"${target['cost']:.4f}"
        console.print(
            f"{name}: {target['target']} ({target['kind']}, LM {target['lm']})\n"
            f"   score {target['score']:.2f}  95% CI [{low:.2f}, {high:.2f}] "
            f"({target['ci_method']}), {target['rows']} rows, {target['errors']} errors\n"
            f"   latency p50 {latency['p50']:.3f}s  p95 {latency['p95']:.3f}s  "
            f"p99 {latency['p99']:.3f}s\n"
            f"   {target['lm_calls']} LM calls, {target['cache_hits']} cache hits, "
            f"{target['prompt_tokens'] + target['completion_tokens']} tokens, cost {cost}",
            highlight=False,
            markup=False,
        )
    comparison = data.get("comparison")
    if comparison is not None:
        low, high = comparison["ci95"]
        console.print(
            f"A - B: {comparison['difference']:+.2f} points  95% CI [{low:+.2f}, {high:+.2f}] "
            f"({comparison['ci_method']})\n"
            f"   A wins {comparison['wins']}, B wins {comparison['losses']}, "
            f"{comparison['ties']} ties; {comparison['test']} p = {comparison['p_value']:.4g}",
            highlight=False,
            markup=False,
        )


def _print_rows(console: Any, targets: Sequence[dict[str, Any]]) -> None:
    header = "row  " + "  ".join(f"{n:>7} {n + ' s':>8}" for n in "AB"[: len(targets)])
    console.print(header + "  error", highlight=False, markup=False)
    for cells in zip(*(t["results"] for t in targets), strict=True):
        line = f"{cells[0]['row']:>3}  " + "  ".join(
            f"{c['score']:>7.3f} {c['seconds']:>8.3f}" for c in cells
        )
        errors = "; ".join(
            f"{name}: {_short(c['error'])}"
            for name, c in zip("AB", cells, strict=False)
            if c["error"]
        )
        console.print(line + (f"  {errors}" if errors else ""), highlight=False, markup=False)


def _short(text: str) -> str:
    return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 3] + "..."
