"""What the CLI prints: progress bars while compiling, a summary table at the end."""

from __future__ import annotations

from typing import Any

from .pipeline import CompileOutcome


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
    for column in ("phase", "LM calls", "cache hits", "tokens", "seconds"):
        table.add_column(column, justify="right" if column != "phase" else "left")
    for p in outcome.phases:
        table.add_row(p.name, str(p.calls), str(p.cache_hits), str(p.tokens), f"{p.seconds:.1f}")
    table.add_row(
        "[bold]total",
        str(outcome.lm_calls),
        str(outcome.cache_hits),
        str(outcome.tokens),
        f"{outcome.seconds:.1f}",
    )
    console.print(table)
    console.print(
        f"dev score ({outcome.dev_size} examples): baseline {outcome.baseline:.1f} → "
        f"compiled [bold]{outcome.compiled:.1f}[/]"
        + ("  (verified)" if outcome.verified else "  (not verified)")
    )
    for note in outcome.notes:
        console.print(f"note: {escape(note)}", highlight=False)
