"""What the CLI prints: the plan, progress bars while compiling, a summary table at the end."""

from __future__ import annotations

from typing import Any

from .config import ProgramConfig
from .outcome import CompileOutcome
from .plan import CHARS_PER_TOKEN, Plan


class CliProgress:
    """A rich progress bar per stage (hidden for --json)."""

    def __init__(self, console: Any, *, enabled: bool = True) -> None:
        self._console = console
        self._enabled = enabled and console.is_terminal
        self._progress: Any = None
        self._task: Any = None

    def start(self, label: str, total: int) -> None:
        if not self._enabled:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self._progress = Progress(
            "[bold]{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=self._console, transient=True,
        )  # fmt: skip
        self._progress.start()
        self._task = self._progress.add_task(label, total=total)

    def advance(self, amount: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, amount)

    def finish(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def note(self, message: str) -> None:
        self._console.print(message, highlight=False)


def print_plan(console: Any, config: ProgramConfig, plan: Plan) -> None:
    """The plan, before any LM call: calls, tokens and cost per phase with an empty cache."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(
        title=f"plan for {escape(config.program.name)} (empty cache)", title_justify="left"
    )
    for column in ("phase", "LM calls", "tokens", "cost (USD)", "note"):
        table.add_column(column, justify="left" if column in ("phase", "note") else "right")
    for p in plan.phases:
        table.add_row(p.name, str(p.calls), str(p.tokens), _money(p.cost), escape(p.note))
    table.add_row("[bold]total", str(plan.calls), str(plan.tokens), _money(plan.cost), "")
    console.print(table)
    console.print(
        f"sizes: {plan.probe.calls_per_run:.1f} LM call(s) per run, "
        f"~{plan.probe.prompt_chars / CHARS_PER_TOKEN:.0f} prompt tokens per call "
        f"+ ~{plan.probe.demo_chars / CHARS_PER_TOKEN:.0f} per demo, "
        f"~{plan.probe.reply_chars / CHARS_PER_TOKEN:.0f} reply tokens "
        f"({escape(plan.probe.method)})",
        highlight=False,
    )
    limits = _limits(plan.max_lm_calls, plan.max_cost)
    if limits:
        kept = plan.phase("compiled")
        console.print(
            f"budget: {limits}; the optimizer stops early to keep ~{kept.calls} calls"
            f"{'' if kept.cost is None else f' (${kept.cost:.4f})'} for the compiled evaluation",
            highlight=False,
        )
    if plan.unpriced:
        console.print(
            f"no price for {escape(', '.join(plan.unpriced))}: costs unknown", highlight=False
        )
    for warning in plan.warnings():
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)


def print_outcome(console: Any, outcome: CompileOutcome) -> None:
    from rich.markup import escape
    from rich.table import Table

    config = outcome.config
    if outcome.up_to_date:
        console.print(
            f"{escape(str(config.program))}: up to date "
            f"({escape(str(config.out))}); --force rebuilds"
        )
        return
    table = Table(title=f"castlm compile {escape(config.program.name)} → {escape(str(config.out))}")
    columns = ("phase", "LM calls", "cache hits", "tokens", "cost (USD)", "seconds", "threads")
    for column in columns:
        table.add_column(column, justify="right" if column != "phase" else "left")
    several = len(outcome.lms) > 1
    for p in outcome.phases:
        table.add_row(
            p.name,
            str(p.calls),
            str(p.cache_hits),
            str(p.tokens),
            _money(p.cost),
            f"{p.seconds:.1f}",
            str(p.threads),
        )
        for use in p.by_lm if several else ():
            if use.calls or use.cache_hits:
                table.add_row(
                    f"  {escape(use.roles)}",
                    str(use.calls),
                    str(use.cache_hits),
                    str(use.tokens),
                    _money(use.cost),
                    "",
                    "",
                    style="dim",
                )
    table.add_row(
        "[bold]total",
        str(outcome.lm_calls),
        str(outcome.cache_hits),
        str(outcome.tokens),
        _money(outcome.cost),
        f"{outcome.seconds:.1f}",
        "",
    )
    console.print(table)
    console.print(
        f"dev score ({outcome.dev_size} examples): baseline {outcome.baseline:.1f} → "
        f"compiled [bold]{outcome.compiled:.1f}[/]"
        + ("  (verified)" if outcome.verified else "  (not verified)")
        + ("  [bold red]BELOW BASELINE[/]" if _below(outcome) else "")
    )
    for warning in outcome.warnings:
        console.print(f"[bold red]warning:[/] {escape(warning)}", highlight=False)
    if outcome.stopped:
        console.print(f"[bold yellow]{escape(outcome.stopped)}[/]", highlight=False)
    for note in outcome.notes:
        console.print(f"note: {escape(note)}", highlight=False)
    if outcome.runtime is not None:
        console.print(f"runtime: {escape(str(outcome.runtime))} vendored", highlight=False)
    if outcome.report:
        console.print(f"report: {escape(outcome.report)}", highlight=False)


def _below(outcome: CompileOutcome) -> bool:
    baseline, compiled = outcome.baseline, outcome.compiled
    return baseline is not None and compiled is not None and compiled < baseline


def _limits(max_calls: int | None, max_cost: float | None) -> str:
    parts = []
    if max_calls is not None:
        parts.append(f"{max_calls} LM calls")
    if max_cost is not None:
        parts.append(f"${max_cost:.4f}")
    return " and ".join(parts)


def _money(value: float | None) -> str:
    return "?" if value is None else f"{value:.4f}"
