"""``castlm eval``'s work: load each target (a compiled package folder or PROGRAM.py:Class),
check every input before the first LM call, then run the compile's own evaluator on it.

A package is imported under a name of its own (two builds of one program share a package
name) and called through its ``load(lm)``; the LM is castlm's, built here with the
package's compile-time settings under the caller's, so its calls, cache hits and tokens are
counted the way a compile counts them (meter.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import castlm
from castlm import LM, Example
from castlm.lm._cache import LMCache
from castlm.lm._lm_factory import make_lm
from castlm.lm._lm_settings import check_settings

from . import metrics
from .config import Target
from .data import load_dataset, program_shape
from .errors import CompileError
from .evaluate import EvalResult, Evaluator
from .label_check import check_rows_have_metric_fields
from .loader import Metric, load_metric, load_module_class
from .meter import Meter, PhaseStats, RoleLM
from .package_import import import_package, package_folder
from .pricing import PriceBook
from .progress import NoProgress, Progress

WHERE = "castlm eval"


@dataclass(frozen=True)
class EvalOptions:
    data: Path
    metric: str
    lm: str | None = None
    base_url: str | None = None
    lm_settings: Mapping[str, Any] = field(default_factory=dict)
    threads: int = 8
    cache: bool = True
    project_dir: Path = field(default_factory=Path.cwd)


@dataclass(frozen=True)
class Loaded:
    """One target, ready to run: nothing has called an LM yet."""

    label: str
    kind: str  # "package" or "program"
    lm_name: str
    program: Callable[..., Any]
    call_args: Callable[[Example], dict[str, Any]]
    examples: list[Example]
    lm: RoleLM


@dataclass(frozen=True)
class TargetRun:
    label: str
    kind: str
    lm_name: str
    result: EvalResult
    usage: PhaseStats


def resolve_metric(text: str) -> Metric:
    if ".py:" in text:
        return load_metric(Target.parse(text, Path.cwd(), "--metric", WHERE))
    return metrics.builtin(text, WHERE)


def prepare(targets: Sequence[str], options: EvalOptions) -> tuple[Metric, list[Loaded]]:
    """The metric and every target, checked: data rows against each program's inputs, the
    metric's fields, the LM names and settings. Raises before any LM call."""
    try:
        settings = check_settings(options.lm_settings, where="--lm-setting")
    except castlm.ConfigurationError as exc:
        raise CompileError(str(exc)) from None
    metric = resolve_metric(options.metric)
    if not options.data.is_file():
        raise CompileError("dataset file not found (--data)", path=options.data)
    check_rows_have_metric_fields(metric, (options.data,))
    cache = LMCache.default(options.project_dir) if options.cache else None
    loaded = [_load(text, options, settings, cache) for text in targets]
    return metric, loaded


def run(
    loaded: Loaded, metric: Metric, threads: int, progress: Progress | None = None
) -> TargetRun:
    evaluator = Evaluator(metric, loaded.call_args, threads, progress or NoProgress())
    meter = Meter([loaded.lm], threads)
    with meter.phase("eval"):
        result = evaluator(loaded.program, loaded.examples, label=f"eval {loaded.label}")
    return TargetRun(loaded.label, loaded.kind, loaded.lm_name, result, meter.phases[-1])


def _load(
    text: str, options: EvalOptions, settings: Mapping[str, Any], cache: LMCache | None
) -> Loaded:
    if ".py:" in text:
        return _load_program(text, options, settings, cache)
    return _load_package(text, options, settings, cache)


def _load_program(
    text: str, options: EvalOptions, settings: Mapping[str, Any], cache: LMCache | None
) -> Loaded:
    target = Target.parse(text, Path.cwd(), "a program", WHERE)
    module_class = load_module_class(target)
    if options.lm is None:
        raise CompileError(
            f"{text} is a program, not a compiled package: pass --lm (a model name, "
            f"openai/<model>, litellm/<model> or standin) to say which LM runs it",
            path=target.path,
        )
    shape = program_shape(module_class)
    examples = load_dataset(options.data, shape)
    lm = _lm(options.lm, options.base_url, dict(settings), cache)
    try:
        program = module_class()
    except Exception as exc:
        raise CompileError(
            f"creating {module_class.__name__}() failed: {type(exc).__name__}: {exc}; "
            f"a program's __init__ must take no arguments",
            path=target.path,
        ) from exc
    program.set_lm(lm)
    return Loaded(
        text, "program", options.lm, program, shape.call_args, examples, _role(options.lm, lm)
    )


def _load_package(
    text: str, options: EvalOptions, settings: Mapping[str, Any], cache: LMCache | None
) -> Loaded:
    folder, manifest = package_folder(Path(text))
    package = import_package(folder)
    name = options.lm or str(manifest.get("lm") or "")
    if not name:
        raise CompileError("the manifest names no LM; pass --lm", path=folder / "manifest.json")
    compiled = manifest.get("lm_settings")
    merged = {**(compiled if isinstance(compiled, dict) else {}), **settings}
    lm = _lm(name, options.base_url, merged, cache)
    try:
        program = package.load(lm)
    except Exception as exc:
        raise CompileError(
            f"the package's load() failed: {type(exc).__name__}: {exc}", path=folder
        ) from exc
    shape = program_shape(type(program))
    examples = load_dataset(options.data, shape)
    return Loaded(text, "package", name, program, shape.call_args, examples, _role(name, lm))


def _lm(name: str, base_url: str | None, settings: dict[str, Any], cache: LMCache | None) -> LM:
    try:
        return make_lm(name, base_url=base_url, cache=cache, **settings)
    except castlm.CastlmError as exc:
        raise CompileError(f"--lm {name}: {exc}") from exc


def _role(name: str, lm: LM) -> RoleLM:
    return RoleLM("task", name, lm, PriceBook().price_of_lm(name, lm))
