"""The plan a compile prints before its first LM call: calls, tokens and cost per phase.

Sizes come from a *probe*: the student runs on a few training inputs against the offline
stand-in model (no network, no cache, not counted), which shows how many predictor calls a
run makes, how long the prompts are, how long the replies are, and how much one demo adds to
a prompt. Tokens are estimated at 4 characters each. The optimizer says how many LM calls it
makes at most (:meth:`Optimizer.estimate_calls`) and how many demos its result carries
(:meth:`Optimizer.estimate_demos`).

All numbers assume an empty cache: cached calls are free, so a resumed or repeated compile
costs less than planned. Estimates are upper bounds where an optimizer stops early (bootstrap
stops once it has its demos).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from castlm import Example, Module, context, trace
from castlm.lm._lm import Message
from castlm.testing import StandInLM

from .optimizers import Optimizer
from .pricing import Price, cost

CHARS_PER_TOKEN = 4
PROBE_RUNS = 3
# Used only when no probe run reaches an LM call (the program fails on stand-in answers).
_GUESS_PROMPT_CHARS, _GUESS_REPLY_CHARS, _GUESS_DEMO_CHARS = 2000, 400, 400


@dataclass(frozen=True)
class Probe:
    """Sizes measured on a few runs (per LM call, in characters)."""

    runs: int
    calls_per_run: float
    prompt_chars: float
    reply_chars: float
    demo_chars: float
    method: str


def probe(
    student: Module, examples: Sequence[Example], call_args: Callable[[Example], dict[str, Any]]
) -> Probe:
    """Run a copy of ``student`` on up to :data:`PROBE_RUNS` examples against the stand-in."""
    program = student.deepcopy()
    standin = StandInLM()  # no cache: nothing the probe does is stored or counted
    program.set_lm(standin)
    names = {id(p): p for p in program.predictors()}
    chosen = list(examples[:PROBE_RUNS])
    prompts: list[int] = []
    replies: list[int] = []
    demos: list[int] = []
    for example in chosen:
        # A failed probe run still shows the calls it made.
        with (
            context(lm=standin, override_lm=standin, cache=False),
            trace() as steps,
            contextlib.suppress(Exception),
        ):
            program(**call_args(example))
        for step in steps:
            prompts.append(_chars(step.messages))
            replies.append(len(step.response.text))
            predictor = names.get(id(step.predictor))
            if predictor is not None:
                demos.append(_demo_chars(predictor, {**step.inputs, **step.outputs}))
    if not prompts:
        n = max(1, len(names))
        return Probe(
            0, n, _GUESS_PROMPT_CHARS, _GUESS_REPLY_CHARS, _GUESS_DEMO_CHARS, "static guess"
        )
    return Probe(
        len(chosen),
        len(prompts) / len(chosen),
        sum(prompts) / len(prompts),
        sum(replies) / len(replies),
        sum(demos) / len(demos) if demos else _GUESS_DEMO_CHARS,
        f"stand-in dry run on {len(chosen)} training example(s)",
    )


def _chars(messages: Sequence[Message]) -> int:
    return sum(len(m.get("content", "")) for m in messages)


def _demo_chars(predictor: Any, demo: Mapping[str, Any]) -> int:
    """How many characters one demo like ``demo`` adds to the predictor's prompt."""
    try:
        normalized = predictor.normalize_demos([demo])
        with_demo = predictor.adapter.prefix(predictor.spec, predictor.instructions, normalized)
        without = predictor.adapter.prefix(predictor.spec, predictor.instructions, ())
    except Exception:  # a demo the adapter cannot render: use the rough guess
        return _GUESS_DEMO_CHARS
    return max(0, _chars(with_demo) - _chars(without))


@dataclass(frozen=True)
class PhasePlan:
    """What one phase is expected to use with an empty cache."""

    name: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost: float | None  # US dollars; None: a price is unknown
    note: str = ""

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Plan:
    phases: tuple[PhasePlan, ...]
    probe: Probe
    demos: int
    optimizer_estimate: str  # "optimizer" or "guess"
    max_lm_calls: int | None = None
    max_cost: float | None = None
    unpriced: tuple[str, ...] = ()

    @property
    def calls(self) -> int:
        return sum(p.calls for p in self.phases)

    @property
    def tokens(self) -> int:
        return sum(p.tokens for p in self.phases)

    @property
    def cost(self) -> float | None:
        costs = [p.cost for p in self.phases if p.calls]
        return None if any(c is None for c in costs) else sum(c or 0.0 for c in costs)

    def phase(self, name: str) -> PhasePlan:
        return next(p for p in self.phases if p.name == name)

    def warnings(self) -> list[str]:
        """Where the budget looks too small for the evaluations every compile needs."""
        needed = [self.phase("baseline"), self.phase("compiled")]
        found = []
        calls = sum(p.calls for p in needed)
        if self.max_lm_calls is not None and self.max_lm_calls < calls:
            found.append(
                f"the LM-call budget ({self.max_lm_calls}) is below the ~{calls} calls the "
                f"baseline and compiled evaluations need with an empty cache; cached calls "
                f"are free, so this only works when they are mostly cached"
            )
        dollars = sum(p.cost or 0.0 for p in needed)
        if self.max_cost is not None and self.max_cost < dollars:
            found.append(
                f"the cost budget (${self.max_cost:.4f}) is below the ~${dollars:.4f} the "
                f"baseline and compiled evaluations need with an empty cache"
            )
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "phases": [
                {**asdict(p), "cost": None if p.cost is None else round(p.cost, 6)}
                for p in self.phases
            ],
            "calls": self.calls,
            "tokens": self.tokens,
            "cost": None if self.cost is None else round(self.cost, 6),
            "calls_per_run": round(self.probe.calls_per_run, 3),
            "prompt_tokens_per_call": round(self.probe.prompt_chars / CHARS_PER_TOKEN),
            "completion_tokens_per_call": round(self.probe.reply_chars / CHARS_PER_TOKEN),
            "demo_tokens": round(self.probe.demo_chars / CHARS_PER_TOKEN),
            "demos_per_predictor": self.demos,
            "measured_by": self.probe.method,
            "optimizer_estimate": self.optimizer_estimate,
            "max_lm_calls": self.max_lm_calls,
            "max_cost": self.max_cost,
            "unpriced": list(self.unpriced),
            "warnings": self.warnings(),
        }


@dataclass(frozen=True)
class PlanInputs:
    """The sizes and settings a plan is computed from."""

    n_predictors: int
    n_train: int
    n_val: int
    n_dev: int
    task_price: Price | None
    optimize_price: Price | None  # the dearest of the task, teacher and prompt LMs
    cache: bool
    verify: bool
    max_lm_calls: int | None = None
    max_cost: float | None = None
    unpriced: tuple[str, ...] = ()
    #: Extra runs of the compiled program (its train and val scores, with a separate val).
    n_scored: int = 0


def make_plan(measured: Probe, optimizer: Optimizer[Any], inputs: PlanInputs) -> Plan:
    demos = optimizer.estimate_demos()
    per_run = measured.calls_per_run
    zero_shot = measured.prompt_chars / CHARS_PER_TOKEN
    with_demos = (measured.prompt_chars + demos * measured.demo_chars) / CHARS_PER_TOKEN
    reply = measured.reply_chars / CHARS_PER_TOKEN
    dev_calls = math.ceil(inputs.n_dev * per_run)
    guessed = type(optimizer).estimate_calls is Optimizer.estimate_calls

    def phase(name: str, calls: int, prompt: float, price: Price | None, note: str) -> PhasePlan:
        p, c = round(calls * prompt), round(calls * reply)
        return PhasePlan(name, calls, p, c, cost(price, p, c), note)

    optimize_calls = optimizer.estimate_calls(inputs.n_predictors, inputs.n_train, inputs.n_val)
    phases = [
        phase("baseline", dev_calls, zero_shot, inputs.task_price, "zero-shot"),
        phase(
            "optimize",
            optimize_calls,
            with_demos,
            inputs.optimize_price,
            "a guess: the optimizer gives no estimate" if guessed else "at most",
        ),
        phase(
            "compiled",
            math.ceil((inputs.n_dev + inputs.n_scored) * per_run),
            with_demos,
            inputs.task_price,
            f"up to {demos} demos" + (", dev + train + val" if inputs.n_scored else ""),
        ),
    ]
    if inputs.verify:
        phases.append(
            phase("verify", 0, 0, inputs.task_price, "replayed from the cache")
            if inputs.cache
            else phase("verify", dev_calls, with_demos, inputs.task_price, "no cache: rerun")
        )
    return Plan(
        tuple(phases),
        measured,
        demos,
        "guess" if guessed else "optimizer",
        inputs.max_lm_calls,
        inputs.max_cost,
        inputs.unpriced,
    )
