"""MIPROv2: demo sets, grounded instruction proposals, and a Bayesian search over both.

The three steps live in demosets.py, grounding.py and search.py; study.py keeps the search
in an optuna storage that several workers share and a rerun resumes. This module wires them
together, sizes the run (``auto`` presets or explicit counts) and reports what it cost.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from castlm import Example, Module

from ...errors import CompileError
from ..base import OptimizeContext, Optimizer, OptimizeResult, Settings
from ..usage import UsageMeter
from .demosets import Plan, build_demo_sets
from .grounding import Grounding, ProposalPlan, describe_program, propose_all, summarize_dataset
from .settings import GROUNDING_DEMOS, MiproSettings, full_evaluations, minibatching, redact

if TYPE_CHECKING:
    from .search import SearchPlan, Space

VAL_SHARE = 0.8  # without a separate valset, this share of the trainset validates (as DSPy)


class MIPROv2(Optimizer[MiproSettings]):
    name = "mipro"
    settings_model: ClassVar[type[Settings]] = MiproSettings

    def describe(self) -> dict[str, Any]:
        described = super().describe()
        if self.opts.storage:  # a database URL may carry a password
            described["settings"]["storage"] = redact(self.opts.storage)
        return described

    def estimate_calls(self, n_predictors: int, n_train: int, n_val: int) -> int:
        """An upper bound with an empty cache: bootstraps, grounding, proposals, search."""
        s = self.opts
        if n_val == n_train:  # the pipeline's default: the trainset split 20/80
            n_val = max(1, int(n_train * VAL_SHARE))
            n_train = max(1, n_train - n_val)
        if s.valset_cap is not None:
            n_val = min(n_val, s.valset_cap)
        n = s.candidates
        boots = max(0, n - 2)  # every set but the unmodified and the labeled one bootstraps
        batches = min(math.ceil(n_train / s.view_data_batch_size), 10) + 1 if s.data_aware else 0
        described = 1 + n_predictors if s.program_aware else 0  # the program, each step
        proposals = n_predictors * (s.instruction_count - 1)
        trials = s.trials(n_predictors) + 1  # the unmodified program's trial
        every = not minibatching(s, n_val)
        runs = trials * (n_val if every else s.minibatch_size)
        runs += full_evaluations(trials, s.minibatch_full_eval_steps, every) * n_val
        return (
            boots * n_train * n_predictors + batches + described + proposals + runs * n_predictors
        )

    def compile(
        self,
        student: Module,
        *,
        trainset: Sequence[Example],
        valset: Sequence[Example],
        ctx: OptimizeContext,
    ) -> OptimizeResult:
        # optuna (and SQLAlchemy under it) load here, not when the optimizer registry does.
        from .search import Search, SearchPlan
        from .study import SharedStudy, default_storage, study_name

        s = self.opts
        seed = s.seed + ctx.seed
        train, val = self._datasets(trainset, valset, seed)
        meter = UsageMeter.of(ctx)
        predictors = len(student.named_predictors())
        num_trials = s.trials(predictors)
        url = s.storage or default_storage(ctx.work_dir)
        name = study_name(
            student,
            train,
            val,
            s.model_dump(mode="json", exclude={"storage", "heartbeat_seconds"}),
            {"seed": seed, "lms": [ctx.task_lm.model, ctx.teacher.model, ctx.prompter.model]},
        )
        study = SharedStudy.open(url, name, seed, s.heartbeat_seconds)
        notes: list[str] = []
        candidates = study.candidates()
        if candidates is None:
            mine = self._candidates(student, train, ctx, seed, meter, notes)
            candidates = study.share_candidates(mine)
        else:
            notes.append(f"resumed study {name}: its candidates were already proposed")
        space = _space(candidates, s.zero_shot)
        every = not minibatching(s, len(val))
        plan = SearchPlan(
            # The unmodified program is the first trial and, as in DSPy, not one of num_trials.
            num_trials=num_trials + 1,
            minibatch_size=s.minibatch_size,
            full_eval_steps=s.minibatch_full_eval_steps,
            every_trial_full=every,
            seed=seed,
            grace=4.0 * s.heartbeat_seconds,
            parallel_trials=s.parallel_trials,
        )
        ctx.progress.note(self._plan_text(space, plan, len(val), predictors))
        with meter.phase("search"):
            outcome = Search(study, space, student, val, ctx, plan).run()
        params = space.params(outcome.best.combo)
        notes += [
            f"study {name} in {redact(url) if url else 'memory'}: {outcome.study_trials} trials "
            f"({outcome.ran} run here), {outcome.study_full_evals} full evaluations "
            f"({outcome.full_evals} here) on {len(val)} validation examples",
            f"best full evaluation {outcome.best.score:.1f}: {space.label(outcome.best.combo)}",
            f"{meter.summary()}",
        ]
        stats = {
            **meter.stats(),
            "trials": outcome.ran,
            "study_trials": outcome.study_trials,
            "full_evals": outcome.full_evals,
            "study_full_evals": outcome.study_full_evals,
            "program_runs": outcome.runs,
            "best_score": outcome.best.score,
        }
        return OptimizeResult(params, trials=tuple(ctx.trials), notes=tuple(notes), stats=stats)

    def _datasets(
        self, trainset: Sequence[Example], valset: Sequence[Example], seed: int
    ) -> tuple[list[Example], list[Example]]:
        train, val = list(trainset), list(valset)
        if valset is trainset or val == train:
            if len(train) < 2:
                raise CompileError("mipro needs at least 2 training examples (or a valset)")
            random.Random(seed).shuffle(train)
            size = max(1, min(len(train) - 1, int(len(train) * VAL_SHARE)))
            train, val = train[: len(train) - size], train[len(train) - size :]
        cap = self.opts.valset_cap
        if cap is not None and len(val) > cap:
            val = random.Random(seed).sample(val, cap)
        if not val or not train:
            raise CompileError("mipro needs a non-empty trainset and valset")
        return train, val

    def _candidates(
        self,
        student: Module,
        train: Sequence[Example],
        ctx: OptimizeContext,
        seed: int,
        meter: UsageMeter,
        notes: list[str],
    ) -> dict[str, Any]:
        s = self.opts
        plan = Plan(
            count=s.candidates,
            max_bootstrapped=GROUNDING_DEMOS if s.zero_shot else s.max_bootstrapped_demos,
            max_labeled=s.max_labeled_demos,
            threshold=s.metric_threshold,
            seed=seed,
        )
        with meter.phase("demo sets"):
            sets = build_demo_sets(student, train, ctx, plan)
        with meter.phase("grounding"):
            summary, failures = (
                summarize_dataset(ctx.prompter, train, s.view_data_batch_size)
                if s.data_aware
                else ("", [])
            )
            grounding = Grounding(dataset=summary)
            if s.program_aware:
                described, failed = describe_program(
                    ctx.prompter, student, train[0] if train else None, ctx.threads
                )
                grounding = replace(described, dataset=summary)
                failures += failed
        proposal_plan = ProposalPlan(
            count=s.instruction_count,
            proposal_examples=s.proposal_examples,
            temperature=s.init_temperature,
            seed=seed,
            program_aware=s.program_aware,
            tip_aware=s.tip_aware,
            fewshot_aware=s.fewshot_aware,
            template=s.prompt_template,
        )
        with meter.phase("proposals"):
            instructions, failed = propose_all(student, train, sets, grounding, ctx, proposal_plan)
        failures += failed
        bootstrap_failures = sum(d.failures for d in sets)
        if bootstrap_failures:
            notes.append(f"{bootstrap_failures} bootstrap run(s) failed")
        if failures:
            notes.append(f"{len(failures)} grounding call(s) failed, e.g. {failures[0]}")
        names = [name for name, _ in student.named_predictors()]
        return {
            "instructions": instructions,
            "demo_sets": {n: [list(d.demos.get(n, ())) for d in sets] for n in names},
            "set_labels": [d.label for d in sets],
            "summary": summary,
        }

    def _plan_text(self, space: Space, plan: SearchPlan, n_val: int, predictors: int) -> str:
        sizes = ", ".join(
            f"{n}: {len(space.instructions[n])} instructions"
            + (f" x {len(space.demo_sets[n])} demo sets" if space.search_demos else "")
            for n in space.names
        )
        per_trial = n_val if plan.every_trial_full else min(plan.minibatch_size, n_val)
        fulls = full_evaluations(plan.num_trials, plan.full_eval_steps, plan.every_trial_full)
        runs = plan.num_trials * per_trial + fulls * n_val
        return (
            f"mipro: {sizes}; {plan.num_trials} trials of {per_trial} examples + {fulls} full "
            f"evaluations of {n_val}: at most {runs} program runs (~{runs * predictors} LM calls "
            f"with an empty cache)"
        )


def _space(candidates: dict[str, Any], zero_shot: bool) -> Space:
    from .search import Space

    instructions: dict[str, list[str]] = candidates["instructions"]
    demo_sets: dict[str, list[list[dict[str, Any]]]] = candidates["demo_sets"]
    if zero_shot:  # demo sets only grounded the proposals; the program keeps its own demos
        demo_sets = {n: sets[:1] for n, sets in demo_sets.items()}
    return Space(
        instructions=instructions,
        demo_sets={n: [tuple(d) for d in sets] for n, sets in demo_sets.items()},
        set_labels=list(candidates["set_labels"]),
        search_demos=not zero_shot,
    )
