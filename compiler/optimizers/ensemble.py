"""Ensemble: several optimized parameter sets in one package, their outputs reduced to one.

DSPy's Ensemble cannot be saved; castlm emits every member's parameters and the reducer, and
the package runs the members concurrently on every call (see ``castlm.Ensemble``).

Members come from a base optimizer: when it scores candidates (``random_search`` does), the
``size`` best distinct candidates; otherwise one run of it per member, member ``i`` with
seed ``seed + i`` on the training set shuffled with that seed (member 0 unshuffled).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import json
import random
import sys
import types
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from castlm import Example, Module, PredictorParams
from pydantic import Field

from ..deps import local_dependencies
from ..errors import CompileError
from .base import OptimizeContext, Optimizer, OptimizeResult, ReducerRef, Settings, Trial
from .registry import make_optimizer

MAJORITY = "majority"


class EnsembleSettings(Settings):
    size: int = Field(default=3, ge=1, description="members (parameter sets)")
    base: str = Field(default="bootstrap", description="the optimizer that makes the members")
    base_options: dict[str, Any] = Field(default_factory=dict)
    reduce: str = Field(
        default=MAJORITY,
        description="'majority', or 'file.py:function' in the program or a module it imports",
    )
    score_members: bool = Field(
        default=False, description="score each member on the validation data for the report"
    )


class EnsembleOptimizer(Optimizer[EnsembleSettings]):
    name = "ensemble"
    settings_model: ClassVar[type[Settings]] = EnsembleSettings

    def compile(
        self,
        student: Module,
        *,
        trainset: Sequence[Example],
        valset: Sequence[Example],
        ctx: OptimizeContext,
    ) -> OptimizeResult:
        opts = self.opts
        reducer = resolve_reducer(opts.reduce, type(student))
        base = self._base()
        own = replace(ctx, trials=[])
        first = base.compile(student.deepcopy(), trainset=trainset, valset=valset, ctx=own)
        ranked = _distinct_best(own.trials)
        if len(ranked) >= opts.size:
            members = [dict(t.params) for t in ranked[: opts.size]]
            origin = f"the {opts.size} best of {len(ranked)} {opts.base} candidates"
        else:
            members = [first.params, *self._reseeded(base, student, trainset, valset, ctx)]
            origin = (
                f"{opts.size} {opts.base} runs with seeds {ctx.seed}..{ctx.seed + opts.size - 1}"
            )
        ctx.trials.extend(own.trials)
        scored = self._score(student, members, valset, ctx) if opts.score_members else []
        distinct = len({_key(m) for m in members})
        notes = [
            f"ensemble of {origin}, reduced by {opts.reduce}"
            + (f"; only {distinct} distinct" if distinct < len(members) else ""),
            *first.notes,
        ]
        return OptimizeResult(
            members[0],
            trials=(*own.trials, *scored),
            notes=tuple(notes),
            members=tuple(members),
            reducer=reducer,
        )

    def estimate_calls(self, n_predictors: int, n_train: int, n_val: int) -> int:
        """The base optimizer once per member (at most), plus the members' scoring."""
        base = self._base().estimate_calls(n_predictors, n_train, n_val) * self.opts.size
        scoring = self.opts.size * n_val * n_predictors if self.opts.score_members else 0
        return base + scoring

    def estimate_demos(self) -> int:
        return self._base().estimate_demos()

    def _base(self) -> Optimizer[Any]:
        if self.opts.base == self.name:
            raise CompileError("ensemble: base cannot be 'ensemble'; use e.g. 'bootstrap'")
        return make_optimizer(self.opts.base, self.opts.base_options)

    def _reseeded(
        self,
        base: Optimizer[Any],
        student: Module,
        trainset: Sequence[Example],
        valset: Sequence[Example],
        ctx: OptimizeContext,
    ) -> list[dict[str, PredictorParams]]:
        members = []
        for i in range(1, self.opts.size):
            seed = ctx.seed + i
            shuffled = list(trainset)
            random.Random(seed).shuffle(shuffled)
            run_ctx = replace(ctx, seed=seed, trials=[])
            result = base.compile(student.deepcopy(), trainset=shuffled, valset=valset, ctx=run_ctx)
            members.append(result.params)
        return members

    def _score(
        self,
        student: Module,
        members: list[dict[str, PredictorParams]],
        valset: Sequence[Example],
        ctx: OptimizeContext,
    ) -> list[Trial]:
        trials = []
        for i, params in enumerate(members):
            program = student.deepcopy()
            program.set_params(params)
            label = f"member {i}"
            score = ctx.evaluate(program, valset, f"ensemble: {label}")
            ctx.offer(label, params, score)
            trials.append(Trial(label, score, params))
        return trials


def _distinct_best(trials: Sequence[Trial]) -> list[Trial]:
    """Scored candidates with parameters, best first (earliest first on a tie), each once."""
    seen: set[str] = set()
    ranked = []
    for trial in sorted(trials, key=lambda t: -t.score):  # sorted() is stable
        key = _key(trial.params)
        if trial.params and key not in seen:
            seen.add(key)
            ranked.append(trial)
    return ranked


def _key(params: Mapping[str, PredictorParams]) -> str:
    data = {name: repr(p) for name, p in sorted(params.items())}
    return json.dumps(data, sort_keys=True)


# -- the reducer -------------------------------------------------------------------------
def resolve_reducer(spec: str, program_class: type[Module]) -> ReducerRef | None:
    """``'majority'`` (None), or the function ``file.py:function`` names, with the module the
    emitted package imports it from. The file is relative to the program's folder and must be
    the program itself or a module it imports, since only those are vendored."""
    if spec == MAJORITY:
        return None
    file, sep, name = spec.rpartition(":")
    if not sep or not file.endswith(".py") or not name.isidentifier():
        raise CompileError(
            f"ensemble: reduce must be 'majority' or 'file.py:function', got {spec!r}"
        )
    program_file = Path(inspect.getfile(program_class)).resolve()
    path = (program_file.parent / file).resolve()
    if path == program_file:
        module: types.ModuleType = sys.modules[program_class.__module__]
        dotted = "program"
    else:
        dotted = _local_module(path, program_file)
        try:
            module = sys.modules.get(dotted) or importlib.import_module(dotted)
        except ImportError as exc:
            raise CompileError(f"ensemble: importing the reducer's module failed: {exc}") from exc
    function = getattr(module, name, None)
    if not callable(function):
        names = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise CompileError(f"ensemble: no function {name!r} in {file}{hint}", path=path)
    _check_arity(function, name, path)
    return ReducerRef(module=dotted, name=name, function=function)


def _check_arity(function: Any, name: str, path: Path) -> None:
    """A reducer is called with one argument, the list of the members' outputs."""
    try:
        inspect.signature(function).bind([])
    except TypeError:
        raise CompileError(
            f"ensemble: the reducer {name} must take one argument, the list of the members' "
            f"outputs: def {name}(outputs: list[T]) -> T",
            path=path,
        ) from None
    except ValueError:  # no signature to check (a builtin): it is called and seen at run time
        pass


def _local_module(path: Path, program_file: Path) -> str:
    folder = program_file.parent
    imported = {p.resolve() for p in local_dependencies(program_file, folder)}
    if path not in imported or not path.is_relative_to(folder):
        raise CompileError(
            f"ensemble: the reducer's file {path} is neither the program nor a module the "
            f"program imports from its folder, so the package would not contain it; define "
            f"the function in {program_file.name} or in a module it imports",
            path=path,
        )
    parts = list(path.relative_to(folder).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)
