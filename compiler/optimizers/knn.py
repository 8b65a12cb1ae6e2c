"""KNNFewShot, precomputed: a demo pool per predictor, chosen from by similarity per call.

DSPy's KNNFewShot bootstraps demos at every inference call from the training examples
nearest to the inputs, which costs LM calls in production. Here the bootstrapping happens at
compile time, once per training example (all in parallel): each accepted run gives every
predictor it called a pool entry (that call's inputs, embedded, and the call as a demo); an
example whose runs all fail gives its labeled demo instead, where it has the predictor's
fields. The package ships each pool with its vectors, so a call costs one embedding request
and no extra LM call (see ``castlm.KNNDemos``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from castlm import Example, Module, Predict, PredictorParams
from castlm.core._knn import KNNDemos, KNNPool, PoolEntry, knn_key
from castlm.embed._embed import EMBEDDER_ENV_VAR, Embedder, make_embedder
from castlm.testing import StandInLM
from pydantic import Field

from ..errors import CompileError
from .base import OptimizeContext, Optimizer, OptimizeResult, Settings
from .labeled import usable_demo
from .parallel import parallel_map
from .traces import Run, bootstrap_runs

DEFAULT_EMBEDDER = "openai/text-embedding-3-small"
_BATCH = 64  # texts per embedding request while building pools


class KNNSettings(Settings):
    k: int = Field(default=3, ge=1, description="pool entries whose demos a call uses")
    embedder: str | None = Field(
        default=None,
        description="embedder name; default $CASTLM_EMBEDDER, else 'standin' with the "
        f"stand-in LM, else {DEFAULT_EMBEDDER!r}",
    )
    max_labeled_demos: int = Field(
        default=16, ge=0, description="labeled demos priming the teacher (as in bootstrap)"
    )
    max_rounds: int = Field(default=1, ge=1)
    metric_threshold: float | None = None
    labeled_fallback: bool = Field(
        default=True, description="an example whose runs all fail contributes its labels"
    )
    vector_digits: int = Field(
        default=6, ge=1, le=17, description="decimal digits kept per vector component"
    )


class KNNFewShot(Optimizer[KNNSettings]):
    name = "knn"
    scores_candidates = False
    settings_model: ClassVar[type[Settings]] = KNNSettings

    def compile(
        self,
        student: Module,
        *,
        trainset: Sequence[Example],
        valset: Sequence[Example],
        ctx: OptimizeContext,
    ) -> OptimizeResult:
        opts = self.opts
        embedder = self.embedder(ctx)
        runs = bootstrap_runs(
            student,
            trainset,
            ctx,
            max_labeled_demos=opts.max_labeled_demos,
            max_rounds=opts.max_rounds,
            metric_threshold=opts.metric_threshold,
            label="knn: bootstrap",
        )
        params: dict[str, PredictorParams] = {}
        sizes: list[str] = []
        for name, predictor in student.named_predictors():
            demos = self._pool_demos(name, predictor, runs)
            pool = self._pool(predictor, demos, embedder, ctx)
            knn = KNNDemos(pool, k=opts.k, embedder=embedder) if pool.entries else None
            params[name] = PredictorParams(predictor.instructions, predictor.demos, knn=knn)
            sizes.append(f"{name}: {len(pool.entries)}")
        accepted = sum(run.accepted for run in runs)
        errors = [f"example {r.index}: {r.error}" for r in runs if r.error]
        notes = [
            f"{accepted} of {len(runs)} training runs accepted; pool entries per predictor: "
            f"{', '.join(sizes)}; {opts.k} nearest per call, embedded with {embedder.name!r}"
        ]
        if errors:
            notes.append(f"{len(errors)} teacher run(s) failed, e.g. {errors[0]}")
        return OptimizeResult(params, notes=tuple(notes))

    def estimate_calls(self, n_predictors: int, n_train: int, n_val: int) -> int:
        """One teacher run per training example and round (every example gets an entry)."""
        return n_train * self.opts.max_rounds * n_predictors

    def estimate_demos(self) -> int:
        return self.opts.k

    def embedder(self, ctx: OptimizeContext) -> Embedder:
        """The embedder the pools are built with (and that the package names)."""
        name = self.opts.embedder or os.environ.get(EMBEDDER_ENV_VAR, "").strip()
        if not name:
            name = "standin" if isinstance(ctx.task_lm, StandInLM) else DEFAULT_EMBEDDER
        try:
            return make_embedder(name)
        except Exception as exc:
            raise CompileError(f"knn: cannot use the embedder {name!r}: {exc}") from exc

    def _pool_demos(
        self, name: str, predictor: Predict[Any], runs: Sequence[Run]
    ) -> list[Mapping[str, Any]]:
        """The pool's demos in training-set order: each accepted call, else the labels."""
        demos: list[Mapping[str, Any]] = []
        for run in runs:
            calls = [c for c in run.calls if c.predictor == name]
            if run.accepted:
                demos.extend({**c.inputs, **c.outputs} for c in calls)
            elif self.opts.labeled_fallback and usable_demo(predictor, run.example):
                demos.append(run.example.to_dict())
        return list(predictor.normalize_demos(demos))

    def _pool(
        self,
        predictor: Predict[Any],
        demos: Sequence[Mapping[str, Any]],
        embedder: Embedder,
        ctx: OptimizeContext,
    ) -> KNNPool:
        keys = [knn_key(predictor.spec, demo) for demo in demos]
        batches = [keys[i : i + _BATCH] for i in range(0, len(keys), _BATCH)]
        try:
            embedded = parallel_map(embedder.embed, batches, ctx.threads)
        except Exception as exc:
            raise CompileError(
                f"knn: embedding the demo pool with {embedder.name!r} failed: {exc}"
            ) from exc
        vectors = [v for batch in embedded for v in batch]
        digits = self.opts.vector_digits
        entries = tuple(
            PoolEntry(key, tuple(round(x, digits) for x in vector), (demo,))
            for key, vector, demo in zip(keys, vectors, demos, strict=True)
        )
        return KNNPool(embedder.name, entries)
