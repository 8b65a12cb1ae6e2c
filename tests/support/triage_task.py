"""The examples/triage task (program, metric, train and dev data) for optimizer tests.

Loaded the way the pipeline loads it (config, loader, datasets), so optimizer tests run on a
real held-out split: they compile on ``train`` and score on ``dev``. LMs are separate
StandInLM objects per role (task, teacher, prompt model), without a cache, so each role's
``stats.calls`` counts every request the optimizer made through it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from castlm import LM, Example, LMRequest, LMResponse, Module, PredictorParams
from castlm.compiler.config import load_config_file
from castlm.compiler.data import program_shape
from castlm.compiler.evaluate import Evaluator
from castlm.compiler.loader import load_module_class
from castlm.compiler.optimizers import OptimizeContext, OptimizeResult, make_optimizer
from castlm.compiler.pipeline import load_data, resolve_metric
from castlm.testing import StandInLM

TRIAGE = Path(__file__).resolve().parents[2] / "examples" / "triage"


class RecordingStandIn(StandInLM):
    """A StandInLM that keeps every request it answered (to read what a proposer was shown)."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[LMRequest] = []

    def _send(self, request: LMRequest) -> LMResponse:
        self.requests.append(request)
        return super()._send(request)


@dataclass
class Roles:
    task: RecordingStandIn = field(default_factory=RecordingStandIn)
    teacher: RecordingStandIn = field(default_factory=RecordingStandIn)
    prompt: RecordingStandIn = field(default_factory=RecordingStandIn)

    @property
    def calls(self) -> int:
        return self.task.stats.calls + self.teacher.stats.calls + self.prompt.stats.calls


@dataclass(frozen=True)
class Task:
    module_class: type[Module]
    train: list[Example]
    dev: list[Example]
    metric: Callable[..., Any]
    call_args: Callable[[Example], dict[str, Any]]

    def student(self, lm: LM) -> Module:
        program = self.module_class()
        program.set_lm(lm)
        return program

    def context(self, roles: Roles, *, threads: int = 4, seed: int = 0) -> OptimizeContext:
        evaluator = Evaluator(self.metric, self.call_args, threads)
        return OptimizeContext(
            roles.task, evaluator, self.metric, roles.teacher, roles.prompt, seed, threads
        )

    def score(self, params: Mapping[str, PredictorParams], examples: list[Example]) -> float:
        """Percent score of the program with ``params`` on ``examples`` (a fresh stand-in)."""
        program = self.student(StandInLM())
        program.set_params(params)
        return Evaluator(self.metric, self.call_args, 4)(program, examples).score

    def compile(
        self,
        name: str,
        options: Mapping[str, Any],
        *,
        threads: int = 4,
        seed: int = 0,
        roles: Roles | None = None,
        train: list[Example] | None = None,
    ) -> tuple[OptimizeResult, OptimizeContext, Roles]:
        roles = roles or Roles()
        ctx = self.context(roles, threads=threads, seed=seed)
        data = self.train if train is None else train
        optimizer = make_optimizer(name, options)
        result = optimizer.compile(self.student(roles.task), trainset=data, valset=data, ctx=ctx)
        return result, ctx, roles


@functools.cache
def triage() -> Task:
    (config,) = load_config_file(TRIAGE / "castlm.toml", {})
    module_class = load_module_class(config.program)
    shape = program_shape(module_class)
    train, dev = load_data(config, shape)
    return Task(module_class, train, dev, resolve_metric(config), shape.call_args)


def cli_args(out: Path, optimizer: str, *options: str) -> list[str]:
    """``castlm compile examples/triage`` with ``optimizer`` into ``out``, fast and offline."""
    args = ["compile", str(TRIAGE), "--out", str(out), "--optimizer", optimizer]
    args += ["--force", "--no-verify", "--no-cache", "--json"]
    for option in options:
        args += ["--option", option]
    return args
