"""SIMBA: stochastic introspective mini-batch ascent.

Each step takes a mini-batch of the training set and runs it ``num_candidates`` times, each
run on a program drawn from the best of the pool (softmax over their mean scores) and sampled
at temperature 1.0 under its own rollout. The examples whose runs disagree most (largest gap
between the best and the worst run) each seed a new candidate: a program from the pool, with
a few demos dropped, plus either a demo taken from the example's best run or advice the
prompt model writes, for every module, from the contrast between the best and the worst run
(``simba_prompts.py``); the advice is appended to each module's instruction. The new
candidates are scored on the mini-batch and join the pool; the best of each step is a
"winner". At the end, up to ``num_candidates + 1`` winners, evenly spaced over the steps, are
scored on the whole training set and the best is returned.

Where castlm differs from DSPy: all randomness is drawn in one thread and every batch of runs
shares one bounded pool (the result does not depend on thread timing); rule proposals run in
parallel, one call per module (DSPy asks one call for a dictionary of advice); the prompt
model also sees each module's calls in the worse runs with feedback ("expected X, got Y"); a
candidate identical to a program already in the pool is not scored again; the winners are
scored on the validation set (the training set when the compile has no separate one); and a
mini-batch smaller than ``bsize`` is used when the training set is small, instead of failing.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from castlm import Example, Module, PredictorParams
from pydantic import Field

from ..evaluate import ExampleResult
from .base import OptimizeContext, Optimizer, OptimizeResult, Settings, Trial
from .evidence import expected_for, feedback, step_records, trajectory
from .parallel import Job, evaluate_many, parallel_map, run_jobs
from .propose import Evidence, dumps, program_source
from .random_search import params_key
from .simba_prompts import appended, offer_advice

Params = dict[str, PredictorParams]

# Trajectories are sampled like DSPy's resampled models: temperature 1.0, one rollout each.
SAMPLING_TEMPERATURE = 1.0


class SimbaSettings(Settings):
    bsize: int = Field(default=32, ge=1, description="mini-batch size")
    num_candidates: int = Field(default=6, ge=1, description="runs per example and new programs")
    max_steps: int = Field(default=8, ge=1, description="mini-batch steps")
    max_demos: int = Field(default=4, ge=0, description="demos per predictor (0: rules only)")
    temperature_for_sampling: float = Field(
        default=0.2, gt=0.0, description="softmax temperature choosing programs to run"
    )
    temperature_for_candidates: float = Field(
        default=0.2, gt=0.0, description="softmax temperature choosing programs to extend"
    )
    prompt_template: str | None = Field(
        default=None, description="replaces the advice prompt's instructions"
    )


@dataclass
class _Member:
    """A program of the pool with its mini-batch scores."""

    program: Module
    label: str
    scores: list[float] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return sum(self.scores) / len(self.scores) if self.scores else 0.0


@dataclass(frozen=True)
class _Run:
    """One sampled run: which pool member ran it, and its scored result."""

    member: int
    result: ExampleResult


@dataclass(frozen=True)
class _Rule:
    """Planned advice for every module, from one better/worse pair (asked after planning)."""

    worse: tuple[str, float]  # the worse run's trajectory and reward
    better: tuple[str, float]
    evidence: Mapping[str, tuple[Evidence, ...]]  # per module: its calls in the worse runs
    current: Mapping[str, str]  # per module: its instruction now
    rollout: int


@dataclass
class _Plan:
    """A candidate to build: params from a source member, maybe waiting for a rule."""

    label: str
    params: Params
    rule: _Rule | None = None


@dataclass
class _Step:
    """What one step sampled: the runs per example, worst-to-best spread first."""

    buckets: list[list[_Run]]
    p10: float
    p90: float


class Simba(Optimizer[SimbaSettings]):
    name = "simba"
    settings_model: ClassVar[type[Settings]] = SimbaSettings

    def compile(
        self,
        student: Module,
        *,
        trainset: Sequence[Example],
        valset: Sequence[Example],
        ctx: OptimizeContext,
    ) -> OptimizeResult:
        if not trainset:
            return OptimizeResult(student.get_params(), notes=("simba: no training examples",))
        opts = self.opts
        rng = random.Random(f"simba:{ctx.seed}")
        pool = [_Member(student.deepcopy(), "simba original")]
        keys = {params_key(student.get_params())}
        winners = [0]
        size = min(opts.bsize, len(trainset))
        order = list(range(len(trainset)))
        rng.shuffle(order)
        cursor = 0
        for step in range(opts.max_steps):
            if cursor + size > len(order):
                rng.shuffle(order)
                cursor = 0
            batch = [trainset[i] for i in order[cursor : cursor + size]]
            cursor += size
            sampled = self._sample(pool, batch, rng, ctx, step)
            plans = self._plan(pool, sampled, rng, step)
            built = self._build(student, plans, keys, ctx)
            if not built:
                continue
            programs = [program for program, _ in built]
            results = evaluate_many(ctx, programs, batch, f"simba step {step + 1}: candidates")
            means = [r.score for r in results]
            for (program, label), result in zip(built, results, strict=True):
                pool.append(_Member(program, label, [r.score for r in result.results]))
            winners.append(len(pool) - len(built) + means.index(max(means)))
        return self._finish(pool, winners, valset or trainset, ctx, size)

    # -- step 1: sample trajectories -------------------------------------------------------
    def _sample(
        self,
        pool: list[_Member],
        batch: list[Example],
        rng: random.Random,
        ctx: OptimizeContext,
        step: int,
    ) -> _Step:
        opts = self.opts
        top = _top_plus_baseline(pool, opts.num_candidates)
        jobs, members = [], []
        for rollout in range(opts.num_candidates):
            for index, example in enumerate(batch):
                member = _softmax_pick(rng, pool, top, opts.temperature_for_sampling)
                members.append(member)
                jobs.append(
                    Job(pool[member].program, example, index, SAMPLING_TEMPERATURE, rollout)
                )
        results = run_jobs(ctx, jobs, f"simba step {step + 1}: sample")
        runs = [_Run(m, r) for m, r in zip(members, results, strict=True)]
        size = len(batch)
        buckets = []
        for index in range(size):
            bucket = sorted(runs[index::size], key=lambda run: -run.result.score)
            buckets.append(bucket)
        buckets.sort(key=_spread, reverse=True)
        scores = [run.result.score for run in runs]
        return _Step(buckets, _percentile(scores, 10), _percentile(scores, 90))

    # -- step 2: plan new candidates -------------------------------------------------------
    def _plan(
        self, pool: list[_Member], sampled: _Step, rng: random.Random, step: int
    ) -> list[_Plan]:
        opts = self.opts
        plans: list[_Plan] = []
        for b, bucket in enumerate(sampled.buckets[: opts.num_candidates + 1]):
            top = _top_plus_baseline(pool, opts.num_candidates)
            source = _softmax_pick(rng, pool, top, opts.temperature_for_candidates)
            params = _drop_demos(pool[source].program.get_params(), opts.max_demos, rng)
            use_demo = opts.max_demos > 0 and rng.random() < 0.5
            # "simba 3.2 = 2.5 + rule": step 3's second candidate, built on step 2's fifth.
            parent = pool[source].label.split(" = ")[0].removeprefix("simba ")
            label = f"simba {step + 1}.{b + 1} = {parent}"
            if use_demo:
                demoed = _with_demo(pool, bucket, params, sampled)
                plans.append(_Plan(label + (" + demo" if demoed != params else ""), demoed))
                continue
            rule = _rule_for(pool, bucket, sampled, sampled.buckets, params, rng)
            plans.append(_Plan(label + (" + rule" if rule else ""), params, rule))
        return plans

    # -- step 3: build them (rule proposals in parallel) -----------------------------------
    def _build(
        self, student: Module, plans: list[_Plan], keys: set[str], ctx: OptimizeContext
    ) -> list[tuple[Module, str]]:
        wanted = [
            (plan.rule, name)
            for plan in plans
            if plan.rule is not None
            for name in plan.rule.current
        ]
        code = program_source(student)

        def write(job: tuple[_Rule, str]) -> str:
            rule, name = job
            return offer_advice(
                ctx.prompter,
                program_code=code,
                module=name,
                instruction=rule.current[name],
                worse=rule.worse,
                better=rule.better,
                evidence=rule.evidence[name],
                template=self.opts.prompt_template,
                temperature=SAMPLING_TEMPERATURE,
                rollout=rule.rollout,
            )

        advice = parallel_map(write, wanted, ctx.threads)
        written = {
            (id(rule), name): text for (rule, name), text in zip(wanted, advice, strict=True)
        }
        built = []
        for plan in plans:
            params = dict(plan.params)
            if plan.rule is not None:
                for name, current in plan.rule.current.items():
                    text = appended(current, written[(id(plan.rule), name)])
                    params[name] = PredictorParams(text, params[name].demos)
            key = params_key(params)
            if key in keys:  # the same program is already in the pool: nothing new to learn
                continue
            keys.add(key)
            program = student.deepcopy()
            program.set_params(params)
            built.append((program, plan.label))
        return built

    # -- the end: score winners on the whole training set -----------------------------------
    def _finish(
        self,
        pool: list[_Member],
        winners: list[int],
        trainset: Sequence[Example],
        ctx: OptimizeContext,
        size: int,
    ) -> OptimizeResult:
        wanted = self.opts.num_candidates + 1
        last = len(winners) - 1
        spots = [round(i * last / (wanted - 1)) for i in range(wanted)] if last else [0]
        chosen = list(dict.fromkeys(winners[i] for i in spots))
        programs = [pool[i].program for i in chosen]
        results = evaluate_many(ctx, programs, trainset, "simba: final evaluation")
        trials = []
        for member, result in zip(chosen, results, strict=True):
            params = pool[member].program.get_params()
            ctx.offer(pool[member].label, params, result.score)
            trials.append(Trial(pool[member].label, result.score, params))
        scores = [r.score for r in results]
        best = scores.index(max(scores))
        notes = (
            f"{len(pool) - 1} candidate program(s) from {self.opts.max_steps} mini-batch "
            f"step(s) of {size}; {len(chosen)} scored on the {len(trainset)} validation "
            f"examples; best: {trials[best].label} ({scores[best]:.1f}; original "
            f"{scores[0]:.1f})",
        )
        return OptimizeResult(pool[chosen[best]].program.get_params(), tuple(trials), notes)

    # -- cost ------------------------------------------------------------------------------
    def estimate_calls(self, n_predictors: int, n_train: int, n_val: int) -> int:
        """At most how many LM calls :meth:`compile` makes (empty cache, one call per predictor
        per run).

        Per step and mini-batch example: num_candidates sampled runs and at most
        num_candidates + 1 new candidates; per step at most num_candidates + 1 advice rounds of
        one call per predictor (about half of the candidates get advice when max_demos > 0);
        at the end at
        most num_candidates + 1 programs on the whole training set. Candidates identical to a
        program of the pool are not scored, so real counts are a little lower.
        """
        opts = self.opts
        size = min(opts.bsize, n_train)
        step_runs = (2 * opts.num_candidates + 1) * size
        final_runs = min(opts.num_candidates + 1, opts.max_steps + 1) * n_train
        rules = opts.max_steps * (opts.num_candidates + 1) * n_predictors
        return (opts.max_steps * step_runs + final_runs) * n_predictors + rules


# -- helpers ---------------------------------------------------------------------------------


def _spread(bucket: list[_Run]) -> tuple[float, float, float]:
    """(best - worst, best, best - mean): the examples to learn from sort first."""
    scores = [run.result.score for run in bucket]
    best, worst, mean = max(scores), min(scores), sum(scores) / len(scores)
    return best - worst, best, best - mean


def _percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _top_plus_baseline(pool: list[_Member], k: int) -> list[int]:
    """The k best members by mean mini-batch score, always with the original (index 0)."""
    ranked = sorted(range(len(pool)), key=lambda i: -pool[i].mean)[:k]
    if 0 not in ranked:
        ranked[-1] = 0
    return list(dict.fromkeys(ranked))


def _softmax_pick(rng: random.Random, pool: list[_Member], among: list[int], temp: float) -> int:
    top = max(pool[i].mean for i in among)
    # Shifting by the top score keeps exp() in range; the probabilities are unchanged.
    weights = [math.exp((pool[i].mean - top) / temp) for i in among]
    return rng.choices(among, weights=weights, k=1)[0]


def _poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method; lam is small here (demos / max_demos)."""
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _drop_demos(
    params: Mapping[str, PredictorParams], max_demos: int, rng: random.Random
) -> Params:
    """Drop a few demos (the same positions in every predictor) to make room for new ones."""
    count = max((len(p.demos) for p in params.values()), default=0)
    if count == 0:
        return dict(params)
    cap = max_demos if max_demos > 0 else 3
    drop = min(count, max(_poisson(rng, count / cap), int(count >= cap)))
    gone = {rng.randrange(count) for _ in range(drop)}
    return {
        name: PredictorParams(
            p.instructions, tuple(d for i, d in enumerate(p.demos) if i not in gone)
        )
        for name, p in params.items()
    }


def _with_demo(pool: list[_Member], bucket: list[_Run], params: Params, sampled: _Step) -> Params:
    """Append, to each predictor, its last call in the example's best run (if that run is good)."""
    good = bucket[0]
    if good.result.score <= sampled.p10:
        return params
    program = pool[good.member].program
    updated = dict(params)
    for name, _ in program.named_predictors():
        calls = step_records(program, good.result, name)
        if calls and name in updated:
            inputs, outputs = calls[-1]
            old = updated[name]
            updated[name] = PredictorParams(old.instructions, (*old.demos, {**inputs, **outputs}))
    return updated


def _rule_for(
    pool: list[_Member],
    bucket: list[_Run],
    sampled: _Step,
    buckets: list[list[_Run]],
    params: Params,
    rng: random.Random,
) -> _Rule | None:
    """Plan advice from the example's best-vs-worst pair; None when there is no contrast."""
    good, bad = bucket[0], bucket[-1]
    if good.result.score <= sampled.p10 or bad.result.score >= sampled.p90:
        return None
    if good.result.score <= bad.result.score:
        return None
    evidence: dict[str, tuple[Evidence, ...]] = {}
    for name in params:
        # The pair comes first; the other examples' runs follow, so the advice generalises.
        focal = _contrast(pool, good, bad, name)
        context = [
            e
            for other in buckets
            if other is not bucket
            for e in _contrast(pool, *_ends(other), name)
        ]
        evidence[name] = tuple(focal + context) if focal else ()
    if not any(evidence.values()):  # no module call to learn from (the runs failed early)
        return None
    worse = (trajectory(pool[bad.member].program, bad.result), bad.result.score)
    better = (trajectory(pool[good.member].program, good.result), good.result.score)
    current = {name: p.instructions for name, p in params.items()}
    return _Rule(worse, better, evidence, current, rng.randrange(2**31))


def _ends(bucket: list[_Run]) -> tuple[_Run, _Run]:
    return bucket[0], bucket[-1]


def _contrast(pool: list[_Member], good: _Run, bad: _Run, name: str) -> list[Evidence]:
    """The worse run's calls of ``name``, with feedback naming what the better run answered."""
    program = pool[bad.member].program
    predictor = dict(program.named_predictors()).get(name)
    if predictor is None:
        return []
    expected = expected_for(predictor, bad.result.example)
    better = step_records(pool[good.member].program, good.result, name)
    records = []
    for inputs, outputs in step_records(program, bad.result, name):
        note = feedback(bad.result.score, expected, outputs)
        if better and good.result.score > bad.result.score:
            answer = _brief(better[-1][1])
            note += f"; a better run (score {good.result.score:.2f}) answered {answer}"
        records.append(Evidence(inputs, expected, outputs, note))
    return records


def _brief(outputs: Mapping[str, Any]) -> str:
    shown = {k: v for k, v in outputs.items() if k not in ("reasoning", "rationale")}
    return ", ".join(f"{k}={v if isinstance(v, str) else dumps(v)}" for k, v in shown.items())
