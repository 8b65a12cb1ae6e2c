"""``report.md`` and ``report.svg``: what a compile did, written beside the package.

The report shows the score of every candidate the optimizer tried (a chart and a table), the
instructions and demos the emitted program carries, the dev set example by example (baseline
against compiled, with errors), and the LM usage per phase and per LM next to the plan.

Everything that comes from data (instructions, demos, inputs, errors, labels) is escaped:
table cells and inline text get HTML entities for ``<``, ``>`` and ``&`` and backslashes for
Markdown's own punctuation, multi-line text goes in fenced code blocks whose fence is longer
than any run of backticks inside, and the SVG escapes all of its text (see svg_chart.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from castlm import PredictorParams
from castlm.base._image import redacted_url

from .evaluate import EvalResult, ExampleResult
from .meter import PhaseStats, RoleLM
from .optimizers import Trial
from .plan import Plan
from .svg_chart import score_chart

REPORT_MD, REPORT_SVG = "report.md", "report.svg"
REPORT_FILES = (REPORT_MD, REPORT_SVG)
MAX_ROWS = 200  # dev examples and candidates listed; the rest are counted
MAX_DEMOS = 16
CELL_CHARS = 80
_MARKDOWN = re.compile(r"([\\`*_\[\]|~])")


@dataclass(frozen=True)
class ReportInputs:
    """Everything the report shows, gathered by the pipeline."""

    program: str
    metric: str
    optimizer: Mapping[str, Any]
    lms: Sequence[RoleLM]
    original: Mapping[str, PredictorParams]
    params: Mapping[str, PredictorParams]
    trials: Sequence[Trial]
    baseline: EvalResult
    compiled: EvalResult
    phases: Sequence[PhaseStats]
    plan: Plan
    stopped: str | None
    notes: Sequence[str]
    warnings: Sequence[str] = ()
    #: The compiled program's train and val scores (with a separate validation set).
    splits: Mapping[str, float] = field(default_factory=dict)


def render_report(inputs: ReportInputs) -> dict[str, bytes]:
    """``report.md`` and ``report.svg``, keyed by their names."""
    chart = score_chart(
        [(t.label, t.score) for t in inputs.trials],
        inputs.baseline.score,
        inputs.compiled.score,
        f"{inputs.program}: scores",
    )
    sections = [
        _summary(inputs),
        _candidates(inputs.trials),
        _parameters(inputs.original, inputs.params),
        _dev(inputs.baseline, inputs.compiled),
        _usage(inputs.phases, inputs.plan),
    ]
    markdown = "\n\n".join(s.rstrip("\n") for s in sections) + "\n"
    # A program's own outputs may hold lone surrogates: shown as \udXXX, not a crash.
    return {
        REPORT_MD: markdown.encode("utf-8", "backslashreplace"),
        REPORT_SVG: chart.encode("utf-8", "backslashreplace"),
    }


# -- escaping ----------------------------------------------------------------------------
def inline(value: Any, limit: int | None = CELL_CHARS) -> str:
    """Data as Markdown inline text (safe in a table cell): one line, escaped, shortened."""
    value = _shown(value)
    text = value if isinstance(value, str) else _json(value)
    text = " ".join(text.split())
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return escape(_MARKDOWN.sub(r"\\\1", text), quote=False)


def fenced(text: str, info: str = "text") -> str:
    """A fenced code block that ``text`` cannot close: the fence outruns its backticks."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


# -- sections ----------------------------------------------------------------------------
def _summary(inputs: ReportInputs) -> str:
    optimizer = inputs.optimizer
    lines = [
        f"# Compile report: {inline(inputs.program, None)}",
        "",
        f"![scores]({REPORT_SVG})",
        "",
        f"- optimizer: {inline(optimizer.get('name', '?'))} "
        f"({inline(optimizer.get('settings', {}), 200)})",
        f"- metric: {inline(inputs.metric)}",
        *(f"- {inline(r.roles)} LM: {inline(r.name)}" for r in inputs.lms),
        f"- dev score ({len(inputs.compiled.results)} examples): baseline "
        f"{inputs.baseline.score:.1f} → compiled **{inputs.compiled.score:.1f}**",
        _splits(inputs.splits),
    ]
    if inputs.stopped:
        lines.append(f"- **{inline(inputs.stopped, None)}**")
    lines += [f"- **warning: {inline(w, None)}**" for w in inputs.warnings]
    lines += [f"- note: {inline(n, None)}" for n in inputs.notes]
    return "\n".join(lines)


def _splits(splits: Mapping[str, float]) -> str:
    if not splits:
        return "- validation: the training set (set val or val_fraction to keep them apart)"
    return "- compiled on train / val: " + " / ".join(
        f"{splits[name]:.1f}" for name in ("train", "val") if name in splits
    )


def _candidates(trials: Sequence[Trial]) -> str:
    lines = ["## Candidates", ""]
    if not trials:
        lines.append(
            "The optimizer scored no candidates (it builds its result without a search); "
            "the chart compares the dev scores."
        )
        return "\n".join(lines)
    best = max(range(len(trials)), key=lambda i: (trials[i].score, -i))
    lines += [
        "Scores are on the optimizer's validation data, in the order it scored them.",
        "",
        "| # | candidate | score |",
        "| ---: | --- | ---: |",
    ]
    for i, trial in enumerate(trials[:MAX_ROWS]):
        mark = " **(best)**" if i == best else ""
        lines.append(f"| {i + 1} | {inline(trial.label)}{mark} | {trial.score:.1f} |")
    if len(trials) > MAX_ROWS:
        lines.append(f"\n{len(trials) - MAX_ROWS} more candidate(s) not listed.")
    return "\n".join(lines)


def _parameters(
    original: Mapping[str, PredictorParams], params: Mapping[str, PredictorParams]
) -> str:
    lines = ["## Emitted parameters"]
    for name, value in params.items():
        before = original.get(name)
        changed = before is None or before.instructions != value.instructions
        lines += [
            "",
            f"### {inline(name, None)}",
            "",
            f"Instructions{'' if changed else ' (unchanged)'}:",
            "",
            fenced(value.instructions),
            "",
            f"{len(value.demos)} demo(s){':' if value.demos else '.'}",
        ]
        for number, demo in enumerate(value.demos[:MAX_DEMOS], 1):
            lines += ["", f"Demo {number}:", "", fenced(_pretty(demo), "json")]
        if len(value.demos) > MAX_DEMOS:
            lines += ["", f"{len(value.demos) - MAX_DEMOS} more demo(s) not shown."]
    return "\n".join(lines)


def _pretty(value: Any) -> str:
    return json.dumps(_shown(value), ensure_ascii=False, indent=2, sort_keys=True, default=str)


def _shown(value: Any) -> Any:
    """A demo as the report shows it: an image (a ``data:`` URL) as its type, size and hash."""
    if isinstance(value, str) and value.startswith("data:"):
        return redacted_url(value)
    if isinstance(value, dict):
        return {k: _shown(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_shown(v) for v in value]
    return value


def _dev(baseline: EvalResult, compiled: EvalResult) -> str:
    lines = [
        "## Dev set, example by example",
        "",
        "| # | inputs | expected | baseline | compiled | error |",
        "| ---: | --- | --- | ---: | ---: | --- |",
    ]
    pairs = list(zip(baseline.results, compiled.results, strict=True))
    for before, after in pairs[:MAX_ROWS]:
        lines.append(_dev_row(before, after))
    if len(pairs) > MAX_ROWS:
        lines.append(f"\n{len(pairs) - MAX_ROWS} more example(s) not listed.")
    better = sum(a.score > b.score for b, a in pairs)
    worse = sum(a.score < b.score for b, a in pairs)
    lines.append(f"\nCompiled vs baseline: {better} better, {worse} worse, {len(pairs)} in all.")
    return "\n".join(lines)


def _dev_row(before: ExampleResult, after: ExampleResult) -> str:
    example = after.example
    inputs, expected = example.inputs(), example.labels()
    errors = [f"{label}: {r.error}" for label, r in (("baseline", before), ("compiled", after))]
    error = "; ".join(e for e, r in zip(errors, (before, after), strict=True) if r.error)
    trend = " ▲" if after.score > before.score else " ▼" if after.score < before.score else ""
    return (
        f"| {after.index} | {inline(dict(inputs))} | {inline(expected)} | "
        f"{before.score:.2f} | {after.score:.2f}{trend} | {inline(error) if error else ''} |"
    )


def _usage(phases: Sequence[PhaseStats], plan: Plan) -> str:
    lines = [
        "## LM usage",
        "",
        "| phase | LM | planned calls | LM calls | cache hits | tokens | cost (USD) | "
        "seconds | threads |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    planned = {p.name: p.calls for p in plan.phases}
    for phase in phases:
        lines.append(
            f"| {inline(phase.name)} | all | {planned.get(phase.name, '')} | {phase.calls} | "
            f"{phase.cache_hits} | {phase.tokens} | {_money(phase.cost)} | "
            f"{phase.seconds:.1f} | {phase.threads} |"
        )
        for use in phase.by_lm if len(phase.by_lm) > 1 else ():
            if use.calls or use.cache_hits:
                lines.append(
                    f"| | {inline(use.roles)}: {inline(use.lm)} | | {use.calls} | "
                    f"{use.cache_hits} | {use.tokens} | {_money(use.cost)} | | |"
                )
    lines.append(
        f"\nPlanned with an empty cache: {plan.calls} calls, ~{plan.tokens} tokens, "
        f"{_money(plan.cost)} (sizes measured by {inline(plan.probe.method, None)})."
    )
    return "\n".join(lines)


def _money(value: float | None) -> str:
    return "unpriced" if value is None else f"{value:.4f}"
