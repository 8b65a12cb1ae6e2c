"""What an MLflow run of a compile records: params from the settings, metrics from the plan and
the outcome, and the trials. Pure functions over castlm's own objects (no mlflow import).

Params never carry a secret: API keys and headers are not settings (they come from the
environment), a ``base_url``'s password is hidden, and of ``extra_body`` only the keys are
recorded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import castlm

from .config import LM_SETTINGS_KEYS, ProgramConfig
from .optimizers import Trial
from .optimizers.mipro.settings import redact
from .outcome import CompileOutcome
from .plan import Plan

#: MLflow's limit on a param value's length.
MAX_PARAM_CHARS = 6000
_SCALARS = ("package", "optimizer", "lm", "teacher_lm", "prompt_lm", "seed", "threads", "cache")
_MORE = ("verify", "dev_fraction", "val_fraction", "max_lm_calls", "max_cost", "min_score")


def compile_params(config: ProgramConfig) -> list[tuple[str, str]]:
    """The compile's settings as ``(key, value)`` params."""
    values: dict[str, Any] = {
        "castlm_version": castlm.__version__,
        "program": f"{config.program.path.name}:{config.program.name}",
        "metric": _metric(config),
    }
    values.update({key: getattr(config, key) for key in (*_SCALARS, *_MORE)})
    if config.base_url:
        values["base_url"] = redact(config.base_url)
    for key in ("train", "dev", "val"):
        path = getattr(config, key)
        if path is not None:
            values[key] = _relative(path, config.project_dir)
    teacher = config.teacher
    if isinstance(teacher, Path):  # an emitted package's folder
        values["teacher"] = _relative(teacher, config.project_dir)
    elif teacher is not None:
        values["teacher"] = f"{teacher.path.name}:{teacher.name}"
    for name, option in config.optimizer_options.items():
        values[f"optimizer_options.{name}"] = option
    for key in LM_SETTINGS_KEYS:
        for name, setting in getattr(config, key).items():
            values[f"{key}.{name}"] = _setting(name, setting)
    for name, lm in config.predictor_lms.items():
        values[f"predictor_lms.{name}"] = lm
    return [(key, _text(value)) for key, value in values.items() if value is not None]


def plan_metrics(plan: Plan) -> list[tuple[str, float, int]]:
    """The plan's expected calls, tokens and cost, in total and per phase."""
    metrics: list[tuple[str, float, int]] = [
        ("plan.lm_calls", plan.calls, 0),
        ("plan.tokens", plan.tokens, 0),
    ]
    if plan.cost is not None:
        metrics.append(("plan.cost_usd", plan.cost, 0))
    for phase in plan.phases:
        metrics.append((f"plan.{phase.name}.lm_calls", phase.calls, 0))
        if phase.cost is not None:
            metrics.append((f"plan.{phase.name}.cost_usd", phase.cost, 0))
    return metrics


def outcome_metrics(outcome: CompileOutcome) -> list[tuple[str, float, int]]:
    """Scores, sizes, and LM use per phase and in total."""
    values: dict[str, float | None] = {
        "score.baseline": outcome.baseline,
        "score.compiled": outcome.compiled,
        **{f"score.{split}": score for split, score in outcome.split_scores.items()},
        "train_size": outcome.train_size,
        "dev_size": outcome.dev_size,
        "val_size": outcome.val_size,
        "errors": outcome.errors,
        "lm_calls": outcome.lm_calls,
        "cache_hits": outcome.cache_hits,
        "tokens": outcome.tokens,
        "cost_usd": outcome.cost,
        "seconds": outcome.seconds,
    }
    for phase in outcome.phases:
        values[f"phase.{phase.name}.lm_calls"] = phase.calls
        values[f"phase.{phase.name}.cache_hits"] = phase.cache_hits
        values[f"phase.{phase.name}.tokens"] = phase.tokens
        values[f"phase.{phase.name}.cost_usd"] = phase.cost
        values[f"phase.{phase.name}.seconds"] = phase.seconds
    return [(key, float(value), 0) for key, value in values.items() if value is not None]


def trials_data(trials: Sequence[Trial]) -> list[dict[str, Any]]:
    """Each trial's step (as in the ``trial.score`` metric), label, score and parameters."""
    return [
        {
            "step": step,
            "label": trial.label,
            "score": trial.score,
            "params": {
                name: {
                    "instructions": params.instructions,
                    "demos": len(params.demos),
                    **({"model": params.model} if params.model else {}),
                }
                for name, params in trial.params.items()
            },
        }
        for step, trial in enumerate(trials)
    ]


def _metric(config: ProgramConfig) -> str:
    metric = config.metric
    return metric if isinstance(metric, str) else f"{metric.path.name}:{metric.name}"


def _setting(name: str, value: Any) -> Any:
    if name == "extra_body" and isinstance(value, Mapping):
        return sorted(value)  # values may be anything the server takes; the keys say enough
    return value


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return path.name


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:MAX_PARAM_CHARS]
