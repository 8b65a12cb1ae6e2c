"""The compile pipeline: preflight, analyze, load, plan, evaluate, optimize, emit, verify.

Each stage is a function; :func:`compile_program` runs them in order around the ProgramIR
and the optimizer's parameters. Before the first LM call it computes a plan (calls, tokens
and cost per phase) and hands it to ``on_plan``. Every real LM call passes the compile's
budget (compiler/budget.py). All output is rendered in memory, verified in a staging folder,
and only then moved into place, so a failed compile leaves the previous package as it was.

Budgets (see docs/compiling.md): the optimize phase runs with the compiled evaluation's
expected calls and cost kept back; when it stops, the best candidate offered so far (or the
unoptimized program) is emitted and the outcome says so. A budget that runs out during the
baseline or compiled evaluation fails the compile (exit 1) without writing anything, since
a half-run evaluation would score the missing examples as 0.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import castlm
from castlm import LM, Example, Module, PredictorParams
from castlm.lm._cache import LMCache
from castlm.lm._lm_factory import make_lm

from . import metric_lms, metrics, predictor_lms, verify_run
from .adapter_names import adapter_names
from .analyze import analyze_file, check_target
from .budget import Budget, BudgetExhausted, Stop
from .compile_report import REPORT_FILES, ReportInputs, render_report
from .config import ProgramConfig, Target
from .data import ProgramShape, file_hash, load_dataset, program_shape, split
from .deps import local_dependencies
from .diagnostics import format_diagnostics
from .emit import EmitRequest, render_package, write_package
from .emit.runtime_copy import footprint
from .errors import CompileError
from .evaluate import EvalResult, Evaluator
from .fingerprint import inputs_fingerprint, is_up_to_date, source_hash
from .ir import ProgramIR
from .label_check import check_rows_have_metric_fields
from .loader import Metric, load_metric, load_module_class
from .meter import Meter, PhaseStats, RoleLM, role_lms
from .mlflow_run import compile_tracking
from .optimizers import OptimizeContext, Optimizer, OptimizeResult, Trial, make_optimizer
from .outcome import BudgetUse, CompileOutcome
from .plan import Plan, PlanInputs, make_plan, probe
from .preflight import preflight
from .pricing import Price, PriceBook
from .progress import NoProgress, Progress
from .score_checks import below_baseline, check_gates, check_some_ran
from .source_typecheck import typecheck_sources
from .teachers import load_teacher, teacher_files
from .verify import VerifyReport, to_json_data

#: Beside the report: the volatile facts of one build (LM calls, cache hits, seconds).
BUILD_RECORD = "build.json"

__all__ = ["CompileOutcome", "PhaseStats", "compile_program"]


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


def load_val(
    config: ProgramConfig, shape: ProgramShape, train: list[Example]
) -> tuple[list[Example], list[Example]]:
    """``(train, val)``: the validation data the optimizer chooses with, kept apart from
    train and dev. Without ``val`` or ``val_fraction`` it is the training data itself."""
    if config.val is not None:
        return train, load_dataset(config.val, shape)
    if config.val_fraction is not None:
        # Another seed than the dev split's, so the two splits do not mirror each other.
        rest, val = split(train, config.val_fraction, config.seed + 1, what="val")
        return rest, val
    return train, train


def make_role_lms(config: ProgramConfig) -> dict[str, tuple[str, LM]]:
    """``{role: (name, LM)}`` for task, teacher and prompt; roles with the task LM's name
    share its LM object (and its counts)."""
    cache = LMCache.default(config.project_dir) if config.cache else None

    def build(name: str, role: str) -> LM:
        try:
            return make_lm(name, base_url=config.base_url, cache=cache, **config.settings_for(role))
        except castlm.CastlmError as exc:
            raise CompileError(str(exc), path=config.config_file) from exc

    task = build(config.lm, "task")
    roles = {"task": (config.lm, task)}
    for role, name in (("teacher", config.teacher_lm), ("prompt", config.prompt_lm)):
        if name and (name != config.lm or config.settings_for(role) != config.lm_settings):
            roles[role] = (name, build(name, role))
        else:
            roles[role] = (config.lm, task)
    by_name = {name: lm for name, lm in roles.values()}
    for predictor, name in config.predictor_lms.items():  # one LM object per distinct name
        lm = by_name.get(name) or build(name, "task")
        by_name[name] = lm
        roles[predictor_lms.ROLE_PREFIX + predictor] = (name, lm)
    return roles


def _with_metric_lms(roles: dict[str, tuple[str, LM]], metric: Metric) -> dict[str, tuple[str, LM]]:
    """The roles plus the LMs an LM-judge metric calls (metered and budgeted as "metric")."""
    for number, lm in enumerate(metric_lms.metric_lms(metric)):
        roles[f"{metric_lms.ROLE}{number or ''}"] = (lm.model, lm)
    return roles


def compile_program(
    config: ProgramConfig,
    *,
    force: bool = False,
    progress: Progress | None = None,
    on_plan: Callable[[Plan], None] | None = None,
) -> CompileOutcome:
    """Compile one configured program; see the module docstring for the stages."""
    progress = progress or NoProgress()
    start = time.perf_counter()
    preflight([config])
    ir = analyze(config)
    sources = project_sources(config)
    fingerprint = inputs_fingerprint(config, sources, teacher_files(config))
    if not force and is_up_to_date(config, fingerprint):
        return CompileOutcome(config, up_to_date=True, seconds=time.perf_counter() - start)
    with compile_tracking(config) as tracking:  # reaches MLflow (if asked) before any LM call
        outcome, trials = _compile(
            config, ir, sources, fingerprint, start, progress, tracking.on_plan(on_plan)
        )
        return tracking.finish(outcome, trials)


def _compile(
    config: ProgramConfig,
    ir: ProgramIR,
    sources: list[Path],
    fingerprint: str,
    start: float,
    progress: Progress,
    on_plan: Callable[[Plan], None] | None,
) -> tuple[CompileOutcome, list[Trial]]:
    """The stages after the up-to-date check; the outcome and the optimizer's trials."""
    module_class = load_module_class(config.program)
    metric = resolve_metric(config)
    shape = program_shape(module_class)
    train, dev = load_data(config, shape)
    check_rows_have_metric_fields(metric, (config.train, config.dev))
    train, val = load_val(config, shape, train)
    lms = role_lms(_with_metric_lms(make_role_lms(config), metric), PriceBook(config.prices))
    student = _instantiate(module_class, config)
    student.set_lm(lms[0].lm)
    own_lms = _predictor_lms(config, student, lms)
    teacher = load_teacher(config, student, _role(lms, "teacher") or lms[0].lm)
    optimizer = make_optimizer(
        config.optimizer, config.optimizer_options, str(config.config_file or "")
    )
    plan = plan_compile(config, student, optimizer, shape, train, dev, lms, val)
    _check_cost_budget(config, lms)
    if config.verify:  # verification runs mypy --strict on these sources, after the spend
        typecheck_sources(sources, config.project_dir / ".castlm" / "mypy-cache", sources[0])
    if on_plan is not None:
        on_plan(plan)

    run = _Run(config, Evaluator(metric, shape.call_args, config.threads, progress), lms, plan)
    run.budget.install([r.lm for r in lms])
    try:
        baseline = run.evaluate(student, dev, "baseline", "baseline (zero-shot)")
        check_some_ran(baseline, "baseline")
        ctx = _optimize_context(config, run, metric, lms, progress)
        ctx.teacher_program = teacher
        chosen = run.optimize(optimizer, student, train, val, ctx)
        chosen = _frozen_models(chosen, own_lms)
        program = chosen.program(student)
        compiled = run.evaluate(program, dev, "compiled", "compiled")
        check_some_ran(compiled, "compiled")
        splits = run.split_scores(program, train, val)
    finally:
        run.budget.uninstall([r.lm for r in lms])
    check_gates(config, baseline.score, compiled.score)
    warnings = tuple(w for w in [below_baseline(baseline.score, compiled.score)] if w)

    describe = optimizer.describe()
    build = _Build(
        config, ir, sources, fingerprint, describe, chosen, baseline, compiled, dev, program, run
    )
    build.splits.update(splits)
    files = build.render()
    if config.verify:
        _verify(config, files, compiled, shape, run)
    files.update(build.report(student.get_params(), ctx.trials, warnings))
    files.update(build.build_record())
    write_package(files, config.out)
    outcome = CompileOutcome(
        config,
        baseline=baseline.score,
        compiled=compiled.score,
        train_size=len(train),
        dev_size=len(dev),
        val_size=len(val) if val is not train else 0,
        split_scores=splits,
        errors=baseline.errors + compiled.errors,
        phases=tuple(run.meter.phases),
        notes=tuple(chosen.notes) + tuple(_error_notes(baseline, compiled)),
        warnings=warnings,
        seconds=time.perf_counter() - start,
        verified=config.verify,
        plan=plan,
        stopped=chosen.stopped,
        budget=run.budget_use(),
        lms=tuple(lms),
        optimizer_stats=chosen.stats,
        runtime=footprint(files, config.package),
    )
    return outcome, ctx.trials


def _verify(
    config: ProgramConfig,
    files: dict[str, bytes],
    compiled: EvalResult,
    shape: ProgramShape,
    run: _Run,
) -> None:
    """Verify the rendered package, and count the replay's LM use as the "verify" phase."""
    started = time.perf_counter()
    stats = verify_staged(config, files, compiled, shape, run.evaluator).lm_stats
    calls, hits = int(stats.get("calls", 0)), int(stats.get("cache_hits", 0))
    run.meter.add("verify", calls, hits, time.perf_counter() - started)


def _predictor_lms(config: ProgramConfig, student: Module, lms: Sequence[RoleLM]) -> dict[str, LM]:
    """Give the predictors named in ``predictor_lms`` their LMs; ``{predictor: LM}``."""
    predictor_lms.check(student, config.predictor_lms, config.lm, config.config_file)
    found = {
        role.removeprefix(predictor_lms.ROLE_PREFIX): r.lm
        for r in lms
        for role in r.roles.split("+")
        if role.startswith(predictor_lms.ROLE_PREFIX)
    }
    predictor_lms.apply(student, found)
    return found


def _frozen_models(chosen: Chosen, lms: Mapping[str, LM]) -> Chosen:
    """``chosen`` with the per-predictor LMs frozen as models, ensemble members included."""
    if not lms:
        return chosen
    result = chosen.result
    if result is not None and result.members:
        members = tuple(predictor_lms.freeze(m, lms) for m in result.members)
        result = replace(result, members=members)
    return replace(chosen, params=predictor_lms.freeze(chosen.params, lms), result=result)


def _optimize_context(
    config: ProgramConfig, run: _Run, metric: Metric, lms: Sequence[RoleLM], progress: Progress
) -> OptimizeContext:
    return OptimizeContext(
        lms[0].lm,
        run.evaluator,
        metric,
        _role(lms, "teacher"),
        _role(lms, "prompt"),
        config.seed,
        config.threads,
        progress,
        work_dir=config.project_dir / ".castlm",
    )


def _role(lms: Sequence[RoleLM], role: str) -> LM | None:
    """The LM of ``role`` when it is not the task LM (the context falls back to that)."""
    for r in lms[1:]:
        if role in r.roles.split("+"):
            return r.lm
    return None


def plan_compile(
    config: ProgramConfig,
    student: Module,
    optimizer: Optimizer[Any],
    shape: ProgramShape,
    train: Sequence[Example],
    dev: Sequence[Example],
    lms: Sequence[RoleLM],
    val: Sequence[Example] | None = None,
) -> Plan:
    """Measure prompt sizes with a stand-in dry run and size every phase (see plan.py).

    ``val`` None or the training data: the optimizer validates on the training set."""
    separate = val is not None and val is not train
    prices = [r.price for r in lms]
    dearest: Price | None = None
    if all(p is not None for p in prices):
        dearest = (max(p[0] for p in prices if p), max(p[1] for p in prices if p))
    inputs = PlanInputs(
        n_predictors=len(student.named_predictors()),
        n_train=len(train),
        n_val=len(val) if separate and val is not None else len(train),
        n_dev=len(dev),
        # With a separate validation set the compiled program is also scored on train and val.
        n_scored=len(train) + len(val) if separate and val is not None else 0,
        task_price=lms[0].price,
        optimize_price=dearest,
        cache=config.cache,
        verify=config.verify,
        max_lm_calls=config.max_lm_calls,
        max_cost=config.max_cost,
        unpriced=tuple(r.name for r in lms if r.price is None),
    )
    return make_plan(probe(student, train, shape.call_args), optimizer, inputs)


def _check_cost_budget(config: ProgramConfig, lms: Sequence[RoleLM]) -> None:
    unpriced = [r.name for r in lms if r.price is None]
    if config.max_cost is None or not unpriced:
        return
    raise CompileError(
        f"max_cost needs the price of {', '.join(repr(n) for n in unpriced)}: add "
        f'prices = {{ "{unpriced[0]}" = [input_usd, output_usd] }} (per million tokens) to '
        f"the config, or install litellm for its price table",
        path=config.config_file,
    )


@dataclass(frozen=True)
class Chosen:
    """The parameters to emit, and how they were chosen."""

    params: dict[str, PredictorParams]
    notes: tuple[str, ...] = ()
    stopped: str | None = None
    stats: Mapping[str, float] = field(default_factory=dict)
    #: The optimizer's whole result when it finished (ensemble members, extra files).
    result: OptimizeResult | None = None

    def program(self, student: Module) -> Module:
        """What is evaluated and emitted: the optimizer's program (an ensemble, say), or a
        copy of ``student`` with these parameters."""
        if self.result is not None:
            return self.result.program(student)
        program = student.deepcopy()
        program.set_params(self.params)
        return program


class _Run:
    """The LM-spending phases of one compile, under one meter and one budget."""

    def __init__(
        self, config: ProgramConfig, evaluator: Evaluator, lms: Sequence[RoleLM], plan: Plan
    ) -> None:
        self.config = config
        self.evaluator = evaluator
        self.lms = lms
        self.plan = plan
        self.meter = Meter(lms, config.threads)
        self._trials_at_stop: list[int] = []
        self._ctx: OptimizeContext | None = None
        self.budget = Budget(
            config.max_lm_calls, config.max_cost, spent=self.meter.spent, on_stop=self._stopped
        )

    def _stopped(self, stop: Stop) -> None:
        # Trials offered after this point may have been scored with refused calls.
        self._trials_at_stop.append(len(self._ctx.trials) if self._ctx else 0)

    def evaluate(
        self, program: Module, dev: Sequence[Example], phase: str, label: str
    ) -> EvalResult:
        """A full dev evaluation; a budget stop inside it fails the compile."""
        result: EvalResult | None = None
        # A stop is checked below, also one the program swallowed.
        with self.meter.phase(phase), contextlib.suppress(BudgetExhausted):
            result = self.evaluator(program, dev, label=label)
        stop = self.budget.lift()
        if stop is not None or result is None:
            raise BudgetExhausted(self._evaluation_stopped(phase, stop))
        return result

    def _evaluation_stopped(self, phase: str, stop: Stop | None) -> str:
        reason = stop.reason if stop else "the budget ran out"
        planned = self.plan.phase("baseline").calls + self.plan.phase("compiled").calls
        return (
            f"{reason} during the {phase} evaluation, so it could not score every dev example; "
            f"nothing was written (the previous package, if any, is unchanged). The baseline "
            f"and compiled evaluations need ~{planned} calls with an empty cache: raise "
            f"--max-lm-calls / --max-cost or use a smaller dev set. Calls made so far are "
            f"cached, so the next compile resumes from them."
        )

    def split_scores(
        self, program: Module, train: Sequence[Example], val: Sequence[Example]
    ) -> dict[str, float]:
        """The compiled program's scores on train and val, when val is a separate split (in
        the compiled phase, planned with it); none when the optimizer validated on train."""
        if val is train:
            return {}
        return {
            "train": self.evaluate(program, train, "compiled", "compiled (train)").score,
            "val": self.evaluate(program, val, "compiled", "compiled (val)").score,
        }

    def optimize(
        self,
        optimizer: Optimizer[Any],
        student: Module,
        train: Sequence[Example],
        val: Sequence[Example],
        ctx: OptimizeContext,
    ) -> Chosen:
        """Run the optimizer with the compiled evaluation's share kept back."""
        self._ctx, self._trials_at_stop = ctx, []
        reserve = self.plan.phase("compiled")
        result = None
        # A stop is checked below, also one the optimizer swallowed.
        with (
            self.meter.phase("optimize"),
            self.budget.keeping(reserve.calls, reserve.cost),
            contextlib.suppress(BudgetExhausted),
        ):
            result = optimizer.compile(student.deepcopy(), trainset=train, valset=val, ctx=ctx)
        stop = self.budget.lift()
        if stop is None and result is not None:
            return Chosen(dict(result.params), tuple(result.notes), None, result.stats, result)
        if stop is not None and result is not None and not optimizer.scores_candidates:
            # Its demos came from runs the metric accepted before the stop: keep them.
            message = (
                f"stopped: {stop.reason}; {optimizer.name} scores no candidates, so the demos "
                f"it had collected before the stop were emitted"
            )
            return Chosen(dict(result.params), tuple(result.notes), message, result.stats, result)
        clean = ctx.trials[: self._trials_at_stop[0]] if self._trials_at_stop else ctx.trials
        return _best_so_far(student, clean, stop)

    def budget_use(self) -> BudgetUse:
        return BudgetUse(
            self.config.max_lm_calls, self.config.max_cost, self.budget.calls, self.meter.spent()
        )


def _best_so_far(student: Module, trials: Sequence[Trial], stop: Stop | None) -> Chosen:
    reason = stop.reason if stop else "the budget ran out"
    params = student.get_params()
    if not trials:
        message = (
            f"stopped: {reason}; no candidate had been scored yet, so the unoptimized "
            f"program was emitted"
        )
        return Chosen(params, (), message)

    best = trials[0]
    for trial in trials[1:]:
        if trial.score > best.score:  # the earliest wins a tie, as OptimizeContext.best()
            best = trial
    params.update(best.params)
    message = (
        f"stopped: {reason}; emitted the best candidate so far ({best.label}, score "
        f"{best.score:.1f} on the optimizer's validation data)"
    )
    return Chosen(params, (), message)


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
    chosen: Chosen
    baseline: EvalResult
    compiled: EvalResult
    dev: list[Example]
    program: Module
    run: _Run
    #: The compiled program's train and val scores (with a separate validation set).
    splits: dict[str, float] = field(default_factory=dict)

    def manifest(self) -> dict[str, Any]:
        config = self.config
        datasets = [p for p in (config.train, config.dev, config.val) if p is not None]
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
            "lm_settings": self.lm_settings(),
            "predictor_lms": dict(config.predictor_lms),
            # The prompt format each predictor was optimized with (a custom one by class path).
            "adapters": adapter_names(self.program),
            "seed": config.seed,
            "scores": {
                "metric": _metric_name(config),
                "baseline": round(self.baseline.score, 4),
                "compiled": round(self.compiled.score, 4),
                "dev_size": len(self.dev),
                **{split: round(score, 4) for split, score in self.splits.items()},
                "validation": "val" if self.splits else "train",
            },
            # The limits only: what was spent depends on the cache (see build_record).
            "budget": {"max_lm_calls": config.max_lm_calls, "max_cost": config.max_cost},
            "verified": config.verify,
            "stopped": self.chosen.stopped,
            "report": list(REPORT_FILES),
            "build_record": BUILD_RECORD,
        }

    def build_record(self) -> dict[str, bytes]:
        """build.json: what this run spent (calls, cache hits, tokens, seconds), which
        differs between two builds of the same inputs, so it stays out of the package."""
        phases = self.run.meter.phases
        record = {
            "lm_calls": sum(p.calls for p in phases),
            "cache_hits": sum(p.cache_hits for p in phases),
            "tokens": sum(p.tokens for p in phases),
            "budget": self.run.budget_use().to_json(),
            "phases": [p.to_json() for p in phases],
        }
        text = json.dumps(record, sort_keys=True, indent=2, ensure_ascii=True) + "\n"
        return {BUILD_RECORD: text.encode("ascii")}

    def lm_settings(self) -> dict[str, Any]:
        """The task LM's settings, with the structured-output dialect it ended up using."""
        return {**self.config.lm_settings, **self.run.lms[0].lm.settings()}

    def render(self) -> dict[str, bytes]:
        request = EmitRequest(
            program_path=self.config.program.path,
            module_class=self.config.program.name,
            package=self.config.package,
            params=self.chosen.params,
            lm_name=self.config.lm,
            lm_settings=self.lm_settings(),
            runtime_include=self.config.runtime_include,
            manifest=self.manifest(),
            ir=self.ir,
            local_modules=tuple(self.sources[1:]),
            **_emitted_shape(self.chosen.result),
        )
        files = render_package(request)
        files[verify_run.VERIFY_FILE] = verify_run.verify_data(
            _verify_rows(self.compiled, self.program)
        )
        return files

    def report(
        self,
        original: Mapping[str, PredictorParams],
        trials: Sequence[Trial],
        warnings: Sequence[str] = (),
    ) -> dict[str, bytes]:
        """report.md and report.svg (after verification, so its usage is in the table)."""
        return render_report(
            ReportInputs(
                program=self.config.program.name,
                metric=_metric_name(self.config),
                optimizer=self.optimizer,
                lms=self.run.lms,
                original=original,
                params=self.chosen.params,
                trials=trials,
                baseline=self.baseline,
                compiled=self.compiled,
                phases=self.run.meter.phases,
                plan=self.run.plan,
                stopped=self.chosen.stopped,
                notes=self.chosen.notes,
                warnings=warnings,
                splits=self.splits,
            )
        )


def _emitted_shape(result: OptimizeResult | None) -> dict[str, Any]:
    """EmitRequest's ensemble members, reducer and extra files, from the optimizer's result."""
    if result is None:
        return {}
    reducer = (result.reducer.module, result.reducer.name) if result.reducer else None
    return {"members": result.members, "reducer": reducer, "extra_files": result.files}


def _metric_name(config: ProgramConfig) -> str:
    return str(config.metric.name if isinstance(config.metric, Target) else config.metric)


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
            # An LM call the endpoint failed is not cached: a replay would call it again.
            "replay": not r.transient,
        }
        for r in compiled.results
    ]


def verify_staged(
    config: ProgramConfig,
    files: dict[str, bytes],
    compiled: EvalResult,
    shape: ProgramShape,
    evaluator: Evaluator,
) -> VerifyReport:
    """Write the package to a staging folder and verify it there, before it replaces anything."""
    config.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".castlm-stage-", dir=config.out.parent) as staging:
        stage = Path(staging) / config.out.name
        write_package(files, stage)
        cache_dir = config.project_dir / ".castlm" if config.cache else None
        report = verify_run.run(
            stage, config.package, config.lm, cache_dir, config.base_url, where=config.out
        )
        dev = [r.example for r in compiled.results]
        verify_run.rescore(
            report,
            dev,
            shape.returns,
            lambda e, p: evaluator.score(e, p, None),
            compiled.score,
            config.out,
        )
        return report
