"""castlm's Python API: compiling and optimizing from code instead of the command line.

``compile`` is ``castlm compile`` as a function (the same pipeline, the same package on
disk). ``optimize`` runs one optimizer on a program object in-process, the way DSPy users
call ``optimizer.compile(program, trainset=...)``, and returns the learned parameters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from castlm import LM, ConfigurationError, Example, Module, make_lm

from . import predictor_lms as predictor_lms_
from .config import build_config, find_config, load_config_file
from .data import program_shape
from .errors import CompileError
from .evaluate import Evaluator
from .loader import check_metric_signature
from .metrics import Metric
from .optimizers import OptimizeContext, OptimizeResult, make_optimizer
from .outcome import CompileOutcome
from .pipeline import compile_program
from .preflight import preflight
from .teachers import check_teacher, load_package


def compile(
    program: str | Path,
    *,
    train: str | Path,
    metric: str,
    lm: str,
    dev: str | Path | None = None,
    optimizer: str = "bootstrap",
    options: Mapping[str, Any] | None = None,
    out: str | Path | None = None,
    force: bool = False,
    **settings: Any,
) -> CompileOutcome:
    """Compile ``program`` (``"path.py:Class"``) into a package, as ``castlm compile`` does.

    ``metric`` is ``"path.py:function"`` or a built-in name; ``settings`` takes any other key
    of docs/configuration.md (``teacher_lm``, ``prompt_lm``, ``seed``, ``threads``,
    ``verify``, ``max_lm_calls``...). Relative paths are relative to the working directory.
    """
    raw: dict[str, Any] = {
        "program": str(program),
        "train": str(train),
        "metric": metric,
        "lm": lm,
        "optimizer": optimizer,
        "optimizer_options": dict(options or {}),
        **settings,
    }
    if dev is not None:
        raw["dev"] = str(dev)
    if out is not None:
        raw["out"] = str(out)
    config = build_config(raw, base=Path.cwd(), origin="castlm.compiler.compile()")
    return compile_program(config, force=force)


def compile_configured(folder: str | Path = ".", *, force: bool = False) -> list[CompileOutcome]:
    """Compile every program configured in ``folder`` (castlm.toml or [tool.castlm])."""
    path = Path(folder)
    config_file = path if path.is_file() else find_config(path)
    if config_file is None:
        raise CompileError("no castlm.toml or [tool.castlm] in pyproject.toml", path=path)
    configs = load_config_file(config_file.resolve())
    preflight(configs)  # every program's mistakes, before the first one spends anything
    return [compile_program(c, force=force) for c in configs]


def optimize(
    program: Module,
    *,
    trainset: Sequence[Example],
    metric: Metric,
    optimizer: str = "bootstrap",
    options: Mapping[str, Any] | None = None,
    lm: LM | str | None = None,
    valset: Sequence[Example] | None = None,
    teacher_lm: LM | str | None = None,
    prompt_lm: LM | str | None = None,
    threads: int = 8,
    seed: int = 0,
    work_dir: Path | None = None,
    predictor_lms: Mapping[str, LM | str] | None = None,
    teacher: Module | str | Path | None = None,
) -> OptimizeResult:
    """Run one optimizer on ``program`` in-process; ``program`` itself is left unchanged.

    Apply the result with ``program.set_params(result.params)`` (or ``result.program(program)``
    for a copy, which is also how an ensemble is built). ``lm`` defaults to the LM of the
    program's first predictor; the validation set defaults to the training set.
    ``predictor_lms`` gives named predictors (dotted names) LMs of their own, used while
    optimizing and frozen as their ``model`` in the result's parameters. ``teacher`` is a
    teacher program (with the student's predictors and their signature fields) that
    bootstrapping runs as it is, on its own LMs (``teacher_lm`` when given), or the folder of
    an emitted package, whose program runs with its frozen parameters (on ``teacher_lm``,
    else ``lm``).
    """
    student = program.deepcopy()
    task_lm = _lm(lm) if lm is not None else _program_lm(student)
    student.set_lm(task_lm)
    own = {name: _lm(value) for name, value in (predictor_lms or {}).items()}
    predictor_lms_.check(student, own, None, "optimize()")
    predictor_lms_.apply(student, own)
    check_metric_signature(metric, "optimize()")
    evaluator = Evaluator(metric, _call_args(student), threads)
    ctx = OptimizeContext(
        task_lm,
        evaluator,
        metric,
        _lm(teacher_lm) if teacher_lm is not None else None,
        _lm(prompt_lm) if prompt_lm is not None else None,
        seed,
        threads,
        work_dir=work_dir,
    )
    if teacher is not None:
        if not isinstance(teacher, Module):
            teacher = load_package(Path(teacher).resolve(), "optimize()")
        check_teacher(teacher, student, "optimize()")
        ctx.teacher_program = teacher.deepcopy()
        for predictor in ctx.teacher_program.predictors():  # teacher_lm, else its own LMs
            predictor.lm = ctx.teacher_lm or predictor.lm or task_lm
    chosen = make_optimizer(optimizer, options or {})
    result = chosen.compile(student, trainset=trainset, valset=valset or trainset, ctx=ctx)
    return replace(result, params=predictor_lms_.freeze(result.params, own))


def _lm(value: LM | str) -> LM:
    return value if isinstance(value, LM) else make_lm(value)


def _program_lm(program: Module) -> LM:
    for predictor in program.predictors():
        if predictor.lm is not None:
            return predictor.lm
    raise ConfigurationError("optimize() needs an LM: pass lm=... or call program.set_lm(lm) first")


def _call_args(program: Module) -> Any:
    try:
        return program_shape(type(program)).call_args
    except CompileError:  # an untyped forward: pass the inputs as they are
        return lambda example: example.inputs()
