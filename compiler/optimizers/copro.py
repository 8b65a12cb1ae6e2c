"""COPRO: coordinate ascent over instructions, one predictor at a time.

For each predictor in turn, the prompt model proposes ``breadth - 1`` new instructions (the
original is the ``breadth``-th candidate); every candidate program is scored on the
validation set and the predictor keeps its best instruction. Each later round (``depth``
rounds in all)
shows the proposer the predictor's best attempts so far, worst first, with their scores, and
asks for ``breadth`` more. The prompts are in ``copro_prompts.py``.

Where castlm differs from DSPy: the proposer also sees evidence from the scored runs (the
step's inputs, what it answered, what was expected, and a feedback line), proposals for a
round are made in parallel with distinct temperature/rollout/tip so they differ, identical
programs are scored once, and the answer is the best program actually scored (the earliest
on a tie). As in DSPy, a predictor's past instructions are re-scored with the other
predictors' current instructions before its best is picked (``rescore``; with one predictor
nothing changes between rounds, so nothing is re-scored). Candidates are scored on the
validation set (the training set when the compile has no separate one).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from castlm import Example, Module, PredictorParams
from pydantic import Field

from ..evaluate import EvalResult
from .base import OptimizeContext, Optimizer, OptimizeResult, Settings, Trial
from .copro_prompts import copro_propose
from .evidence import run_evidence
from .parallel import evaluate_many, parallel_map
from .propose import TIPS, Evidence

Instructions = tuple[str, ...]  # one instruction per predictor, in named_predictors() order


class CoproSettings(Settings):
    breadth: int = Field(default=10, ge=2, description="candidates per predictor and round")
    depth: int = Field(default=3, ge=1, description="rounds of proposals")
    init_temperature: float = Field(default=1.4, ge=0.0, description="proposal temperature")
    max_evidence: int = Field(
        default=64, ge=0, description="scored runs shown to the proposer per proposal"
    )
    rescore: bool = Field(
        default=True,
        description="re-score a predictor's past instructions with the other predictors' "
        "current ones before picking its best (as DSPy does)",
    )
    prompt_template: str | None = Field(
        default=None, description="replaces the proposal prompt's instructions"
    )


@dataclass
class _Scored:
    """A scored program: its instructions, score and runs (for evidence)."""

    instructions: Instructions
    program: Module
    result: EvalResult

    @property
    def score(self) -> float:
        return self.result.score


@dataclass
class _Search:
    """The state of one COPRO run; scores are kept for every program it tried."""

    student: Module
    names: list[str]
    trainset: Sequence[Example]
    ctx: OptimizeContext
    scored: dict[Instructions, _Scored] = field(default_factory=dict)
    trials: list[Trial] = field(default_factory=list)

    def score(self, keys: Sequence[Instructions], labels: Sequence[str]) -> list[_Scored]:
        """Score the programs not seen before (in one bounded pool); offer each new one."""
        fresh: dict[Instructions, str] = {}
        for key, label in zip(keys, labels, strict=True):
            if key not in self.scored and key not in fresh:
                fresh[key] = label
        programs = [self.program(key) for key in fresh]
        results = evaluate_many(self.ctx, programs, self.trainset, "copro: evaluate")
        for (key, label), program, result in zip(fresh.items(), programs, results, strict=True):
            self.scored[key] = _Scored(key, program, result)
            params = program.get_params()
            self.ctx.offer(label, params, result.score)
            self.trials.append(Trial(label, result.score, params))
        return [self.scored[key] for key in keys]

    def rescore(
        self, tried: dict[str, _Scored], current: Instructions, index: int, label: str
    ) -> dict[str, _Scored]:
        """Every instruction tried for predictor ``index``, scored alongside the others'
        current instructions (a program already scored is not scored again)."""
        keys = [(*current[:index], text, *current[index + 1 :]) for text in tried]
        name = self.names[index]
        labels = [f"{label} {name} rescore #{j + 1}" for j in range(len(keys))]
        return dict(zip(tried, self.score(keys, labels), strict=True))

    def program(self, key: Instructions) -> Module:
        program = self.student.deepcopy()
        base = program.get_params()
        program.set_params(
            {
                n: PredictorParams(text, base[n].demos)
                for n, text in zip(self.names, key, strict=True)
            }
        )
        return program

    def best(self) -> _Scored:
        """The best program scored (dicts keep insertion order: the earliest wins a tie)."""
        return max(self.scored.values(), key=lambda s: s.score)


class Copro(Optimizer[CoproSettings]):
    name = "copro"
    settings_model: ClassVar[type[Settings]] = CoproSettings

    def compile(
        self,
        student: Module,
        *,
        trainset: Sequence[Example],
        valset: Sequence[Example],
        ctx: OptimizeContext,
    ) -> OptimizeResult:
        names = [n for n, _ in student.named_predictors()]
        search = _Search(student, names, valset, ctx)
        current = tuple(p.instructions for _, p in student.named_predictors())
        (start,) = search.score([current], ["copro: original"])
        # attempts[i]: every instruction tried for predictor i -> the program it was scored in
        attempts: list[dict[str, _Scored]] = [{text: start} for text in current]
        for depth in range(self.opts.depth):
            for i, name in enumerate(names):
                source = attempts[i][current[i]]
                proposals = self._propose(search, i, source, attempts[i], depth)
                keys = [(*current[:i], text, *current[i + 1 :]) for text in proposals]
                labels = [f"copro depth {depth + 1} {name} #{j + 1}" for j in range(len(proposals))]
                for text, scored in zip(proposals, search.score(keys, labels), strict=True):
                    attempts[i].setdefault(text, scored)
                if self.opts.rescore:
                    attempts[i] = search.rescore(
                        attempts[i], current, i, f"copro depth {depth + 1}"
                    )
                best_text = max(attempts[i], key=lambda t: attempts[i][t].score)
                current = (*current[:i], best_text, *current[i + 1 :])
        best = search.best()
        changed = sum(a != b for a, b in zip(best.instructions, start.instructions, strict=True))
        notes = (
            f"scored {len(search.scored)} instruction sets on {len(valset)} validation examples; "
            f"best {best.score:.1f} (original {start.score:.1f}); "
            f"{changed} of {len(names)} instruction(s) changed",
        )
        return OptimizeResult(best.program.get_params(), tuple(search.trials), notes)

    def _propose(
        self,
        search: _Search,
        index: int,
        source: _Scored,
        tried: dict[str, _Scored],
        depth: int,
    ) -> list[str]:
        """This round's proposals for one predictor, made in parallel, in a fixed order."""
        opts, ctx = self.opts, search.ctx
        name = search.names[index]
        predictor = source.program.predictor(name)
        records = [e for r in source.result.results for e in run_evidence(source.program, r, name)]
        # The best `breadth` attempts, worst first, with their scores (COPRO's feedback).
        ranked = sorted(tried.items(), key=lambda kv: kv[1].score)[-opts.breadth :]
        history = [(text, scored.score) for text, scored in ranked] if depth else []
        count = opts.breadth - 1 if depth == 0 else opts.breadth
        tips = list(TIPS.values())

        def one(j: int) -> str:
            serial = depth * opts.breadth + j
            # Each proposal samples under a rollout of its own (derived from the seed), so
            # proposals differ from each other and from one compile seed to the next.
            rng = random.Random(f"copro:{ctx.seed}:{name}:{serial}")
            rollout = rng.randrange(2**31)
            shown = _sample(records, opts.max_evidence, rng)
            return copro_propose(
                ctx.prompter,
                predictor,
                shown,
                attempts=history,
                tip=tips[serial % len(tips)],
                program_doc=type(search.student).__doc__ or "",
                template=opts.prompt_template,
                temperature=opts.init_temperature or None,
                rollout=rollout,
            )

        ctx.progress.start(f"copro: propose ({name})", count)
        try:
            return parallel_map(lambda j: _advanced(ctx, one(j)), list(range(count)), ctx.threads)
        finally:
            ctx.progress.finish()

    def estimate_calls(self, n_predictors: int, n_train: int, n_val: int) -> int:
        """LM calls, at most: (1 + P + R) validation-set runs of every predictor, plus P
        proposals, with P = predictors x (depth x breadth - 1) and R the re-scored programs
        (with several predictors and ``rescore``: predictors x breadth x depth(depth-1)/2).
        Fewer when proposals coincide."""
        opts = self.opts
        proposals = n_predictors * (opts.depth * opts.breadth - 1)
        rescored = 0
        if opts.rescore and n_predictors > 1:
            rescored = n_predictors * opts.breadth * opts.depth * (opts.depth - 1) // 2
        return (1 + proposals + rescored) * n_val * n_predictors + proposals


def _sample(records: list[Evidence], limit: int, rng: random.Random) -> list[Evidence]:
    if len(records) <= limit:
        return records
    keep = sorted(rng.sample(range(len(records)), limit))
    return [records[i] for i in keep]


def _advanced(ctx: OptimizeContext, text: str) -> str:
    ctx.progress.advance()
    return text
