"""Checks on the scores a compile measured, before anything is written.

* An evaluation in which every example failed (the program raised, no reply parsed, the
  endpoint refused) is an error, not a score of 0: a score of 0 from real predictions is a
  result, one from no predictions at all hides the cause.
* A compiled program that scores below its zero-shot baseline is reported loudly; the
  ``require_improvement`` and ``min_score`` settings turn a poor score into a failed build.
"""

from __future__ import annotations

from collections import Counter

from .config import ProgramConfig
from .errors import CompileError
from .evaluate import EvalResult

_MESSAGE_CHARS = 300


def check_some_ran(result: EvalResult, phase: str) -> None:
    """Raise when every example of ``result`` ended in an error."""
    if not result.results or result.errors < len(result.results):
        return
    kinds = Counter(_kind(r.error) for r in result.results if r.error)
    counted = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
    first = next(r for r in result.results if r.error)
    raise CompileError(
        f"every one of the {len(result.results)} dev examples failed in the {phase} evaluation "
        f"({counted}), so there is no score to report, only errors; the first, on dev example "
        f"{first.index}: {_short(first.error or '')}. Nothing was written. Fix the cause (the "
        f"program raising, LM replies that do not parse, the endpoint or model) and compile "
        f"again; LM calls made so far are cached"
    )


def below_baseline(baseline: float, compiled: float) -> str | None:
    """The warning for a compiled program that scores below its zero-shot baseline."""
    if compiled >= baseline:
        return None
    return (
        f"the compiled program scores {compiled:.1f} on the dev set, BELOW its zero-shot "
        f"baseline {baseline:.1f}: the optimization made it worse. Try another optimizer or "
        f"more training data, check the metric, or set require_improvement / min_score "
        f"(--require-improvement, --min-score) to fail such builds"
    )


def check_gates(config: ProgramConfig, baseline: float, compiled: float) -> None:
    """Fail the build when the scores miss ``require_improvement`` or ``min_score``."""
    failed = []
    if config.require_improvement and not improved(baseline, compiled):
        failed.append(
            f"require_improvement is set, but the compiled program scores {compiled:.1f}, "
            f"not above its zero-shot baseline {baseline:.1f}"
        )
    if config.min_score is not None and compiled < config.min_score:
        failed.append(
            f"min_score is {config.min_score:g}, but the compiled program scores {compiled:.1f}"
        )
    if failed:
        raise CompileError(
            "; ".join(failed) + " (dev set scores, 0-100). Nothing was written (the previous "
            "package, if any, is unchanged). Try another optimizer, more or better training "
            "data or a stronger LM, or check the metric; or lower the gate in the config / "
            "on the command line. LM calls made so far are cached",
            path=config.config_file,
        )


def improved(baseline: float, compiled: float) -> bool:
    """Compiled above baseline; a perfect baseline can only be matched."""
    return compiled > baseline or compiled >= 100.0


def _kind(error: str | None) -> str:
    return (error or "").split(":", 1)[0].strip() or "error"


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MESSAGE_CHARS else text[: _MESSAGE_CHARS - 3] + "..."
