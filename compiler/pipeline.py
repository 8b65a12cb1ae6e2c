"""The compile pipeline: analyze, load, evaluate, optimize, emit, verify.

Each stage is a function; :func:`compile_program` runs them in order around the ProgramIR
and the optimizer's parameters. All output is rendered in memory, verified in a staging
folder, and only then moved into place, so a failed compile leaves the previous package as
it was.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import castlm
from castlm import LM, Example, Module
from castlm._cache import LMCache
from castlm._lm_factory import make_lm

from . import metrics, verify_run
from .analyze import analyze_file, check_target
from .config import ProgramConfig, Target
from .data import ProgramShape, file_hash, load_dataset, program_shape, split
from .deps import local_dependencies
from .diagnostics import format_diagnostics
from .emit import EmitRequest, render_package, write_package
from .errors import CompileError
from .evaluate import EvalResult, Evaluator
from .fingerprint import emitted_fingerprint, inputs_fingerprint, source_hash
from .ir import ProgramIR
from .loader import Metric, load_metric, load_module_class
from .optimizers import OptimizeContext, OptimizeResult, make_optimizer
from .progress import NoProgress, Progress
from .verify import to_json_data


@dataclass(frozen=True)
class PhaseStats:
    """LM calls, cache hits, tokens and time of one phase of a compile."""

    name: str
    calls: int
    cache_hits: int
    tokens: int
    seconds: float


@dataclass(frozen=True)
class CompileOutcome:
    config: ProgramConfig
    up_to_date: bool = False
    baseline: float | None = None
    compiled: float | None = None
    train_size: int = 0
    dev_size: int = 0
    errors: int = 0
    phases: tuple[PhaseStats, ...] = ()
    notes: tuple[str, ...] = ()
    seconds: float = 0.0
    verified: bool = False

    @property
    def lm_calls(self) -> int:
        return sum(p.calls for p in self.phases)

    @property
    def cache_hits(self) -> int:
        return sum(p.cache_hits for p in self.phases)

    @property
    def tokens(self) -> int:
        return sum(p.tokens for p in self.phases)

    def to_json(self) -> dict[str, Any]:
        return {
            "program": str(self.config.program),
            "package": self.config.package,
            "out": str(self.config.out),
            "up_to_date": self.up_to_date,
            "scores": {"baseline": self.baseline, "compiled": self.compiled},
            "train_size": self.train_size,
            "dev_size": self.dev_size,
            "errors": self.errors,
            "lm_calls": self.lm_calls,
            "cache_hits": self.cache_hits,
            "tokens": self.tokens,
            "phases": [p.__dict__ for p in self.phases],
            "seconds": round(self.seconds, 3),
            "verified": self.verified,
            "notes": list(self.notes),
        }


@dataclass
class _Meter:
    """Counts LM work per phase across every LM the compile uses."""

    lms: Sequence[LM]
    phases: list[PhaseStats] = field(default_factory=list)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        before = [lm.stats.snapshot() for lm in self.lms]
        start = time.perf_counter()
        try:
            yield
        finally:
            used = [lm.stats.since(b) for lm, b in zip(self.lms, before, strict=True)]
            self.phases.append(
                PhaseStats(
                    name,
                    sum(u.calls for u in used),
                    sum(u.cache_hits for u in used),
                    sum(u.usage.total_tokens for u in used),
                    time.perf_counter() - start,
                )
            )


def analyze(config: ProgramConfig) -> ProgramIR:
    """Stage 1: static analysis; errors stop the compile before any LM call."""
    ir = analyze_file(config.program.path)
    problems = [d for d in (*ir.diagnostics, *check_target(ir, config.program.name)) if d.is_error]
    if problems:
        raise CompileError("the program has errors:\n" + format_diagnostics(problems))
    return ir


def project_sources(config: ProgramConfig) -> list[Path]:
    return [config.program.path, *local_dependencies(config.program.path, config.project_dir)]


def resolve_metric(config: ProgramConfig) -> Metric:
    if isinstance(config.metric, Target):
        return load_metric(config.metric)
    return metrics.builtin(config.metric, str(config.config_file or ""))


def load_data(config: ProgramConfig, shape: ProgramShape) -> tuple[list[Example], list[Example]]:
    train = load_dataset(config.train, shape)
    if config.dev is not None:
        return train, load_dataset(config.dev, shape)
    return split(train, config.dev_fraction, config.seed)


def make_lms(config: ProgramConfig) -> tuple[LM, LM | None, LM | None]:
    cache = LMCache.default(config.project_dir) if config.cache else None

    def build(name: str | None) -> LM | None:
        if name is None:
            return None
        try:
            return make_lm(name, base_url=config.base_url, cache=cache)
        except castlm.CastlmError as exc:
            raise CompileError(str(exc), path=config.config_file) from exc

    task = build(config.lm)
    assert task is not None
    teacher = build(config.teacher_lm) if config.teacher_lm != config.lm else None
    prompt = build(config.prompt_lm) if config.prompt_lm != config.lm else None
    return task, teacher, prompt


def compile_program(
    config: ProgramConfig,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> CompileOutcome:
    """Compile one configured program; see the module docstring for the stages."""
    progress = progress or NoProgress()
    start = time.perf_counter()
    ir = analyze(config)
    sources = project_sources(config)
    fingerprint = inputs_fingerprint(config, sources)
    if not force and emitted_fingerprint(config) == fingerprint:
        return CompileOutcome(config, up_to_date=True, seconds=time.perf_counter() - start)

    module_class = load_module_class(config.program)
    metric = resolve_metric(config)
    shape = program_shape(module_class)
    train, dev = load_data(config, shape)
    task_lm, teacher_lm, prompt_lm = make_lms(config)
    meter = _Meter([lm for lm in (task_lm, teacher_lm, prompt_lm) if lm is not None])
    evaluator = Evaluator(metric, shape.call_args, config.threads, progress)

    student = _instantiate(module_class, config)
    student.set_lm(task_lm)
    with meter.phase("baseline"):
        baseline = evaluator(student, dev, label="baseline (zero-shot)")
    optimizer = make_optimizer(
        config.optimizer, config.optimizer_options, str(config.config_file or "")
    )
    ctx = OptimizeContext(
        task_lm, evaluator, metric, teacher_lm, prompt_lm, config.seed, config.threads, progress
    )
    with meter.phase("optimize"):
        result = optimizer.compile(student.deepcopy(), trainset=train, valset=train, ctx=ctx)
    program = student.deepcopy()
    program.set_params(result.params)
    with meter.phase("compiled"):
        compiled = evaluator(program, dev, label="compiled")

    build = _Build(
        config,
        ir,
        sources,
        fingerprint,
        optimizer.describe(),
        result,
        baseline,
        compiled,
        dev,
        program,
    )
    files = build.render(meter.phases)
    if config.verify:
        with meter.phase("verify"):
            verify_staged(config, files, compiled, shape, evaluator)
    write_package(files, config.out)
    return CompileOutcome(
        config,
        baseline=baseline.score,
        compiled=compiled.score,
        train_size=len(train),
        dev_size=len(dev),
        errors=baseline.errors + compiled.errors,
        phases=tuple(meter.phases),
        notes=tuple(result.notes) + tuple(_error_notes(baseline, compiled)),
        seconds=time.perf_counter() - start,
        verified=config.verify,
    )


def _instantiate(module_class: type[Module], config: ProgramConfig) -> Module:
    try:
        return module_class()
    except Exception as exc:
        raise CompileError(
            f"creating {module_class.__name__}() failed: {type(exc).__name__}: {exc}; "
            f"a compiled program's __init__ must take no arguments",
            path=config.program.path,
        ) from exc


def _error_notes(baseline: EvalResult, compiled: EvalResult) -> list[str]:
    notes = []
    for label, result in (("baseline", baseline), ("compiled", compiled)):
        if result.errors:
            notes.append(
                f"{result.errors} {label} run(s) failed: " + "; ".join(result.error_summary())
            )
    return notes


@dataclass(frozen=True)
class _Build:
    """What the emitter needs, gathered from the earlier stages."""

    config: ProgramConfig
    ir: ProgramIR
    sources: list[Path]
    fingerprint: str
    optimizer: dict[str, Any]
    result: OptimizeResult
    baseline: EvalResult
    compiled: EvalResult
    dev: list[Example]
    program: Module

    def manifest(self, phases: Sequence[PhaseStats]) -> dict[str, Any]:
        config = self.config
        datasets = [p for p in (config.train, config.dev) if p is not None]
        return {
            "castlm_version": castlm.__version__,
            "program": f"{config.program.path.name}:{config.program.name}",
            "source_hash": source_hash(self.sources),
            "dataset_hash": file_hash(*datasets),
            "inputs_fingerprint": self.fingerprint,
            "optimizer": self.optimizer,
            "lm": config.lm,
            "teacher_lm": config.teacher_lm,
            "prompt_lm": config.prompt_lm,
            "seed": config.seed,
            "scores": {
                "metric": str(
                    config.metric.name if isinstance(config.metric, Target) else config.metric
                ),
                "baseline": round(self.baseline.score, 4),
                "compiled": round(self.compiled.score, 4),
                "dev_size": len(self.dev),
            },
            "lm_calls": sum(p.calls for p in phases),
            "cache_hits": sum(p.cache_hits for p in phases),
            "tokens": sum(p.tokens for p in phases),
        }

    def render(self, phases: Sequence[PhaseStats]) -> dict[str, bytes]:
        request = EmitRequest(
            program_path=self.config.program.path,
            module_class=self.config.program.name,
            package=self.config.package,
            params=self.result.params,
            lm_name=self.config.lm,
            manifest=self.manifest(phases),
            ir=self.ir,
            local_modules=tuple(self.sources[1:]),
        )
        files = render_package(request)
        files[verify_run.VERIFY_FILE] = verify_run.verify_data(
            _verify_rows(self.compiled, self.program)
        )
        return files


def _verify_rows(compiled: EvalResult, program: Module) -> list[dict[str, Any]]:
    """Dev inputs with the in-process predictions and prompts, for castlm-verify.json."""
    names = {id(p): n for n, p in program.named_predictors()}
    return [
        {
            "inputs": r.example.inputs(),
            "prediction": to_json_data(r.prediction) if r.error is None else None,
            "prompts": [
                {
                    "predictor": names.get(id(s.predictor), s.signature),
                    "messages": [dict(m) for m in s.messages],
                }
                for s in r.trace
            ],
            "error": r.error,
        }
        for r in compiled.results
    ]


def verify_staged(
    config: ProgramConfig,
    files: dict[str, bytes],
    compiled: EvalResult,
    shape: ProgramShape,
    evaluator: Evaluator,
) -> None:
    """Write the package to a staging folder and verify it there, before it replaces anything."""
    config.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".castlm-stage-", dir=config.out.parent) as staging:
        stage = Path(staging) / config.out.name
        write_package(files, stage)
        cache_dir = config.project_dir / ".castlm" if config.cache else None
        report = verify_run.run(stage, config.package, config.lm, cache_dir, config.base_url)
        dev = [r.example for r in compiled.results]
        verify_run.rescore(
            report,
            dev,
            shape.returns,
            lambda e, p: evaluator.score(e, p, None),
            compiled.score,
            config.out,
        )
