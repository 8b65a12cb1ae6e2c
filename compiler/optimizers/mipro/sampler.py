"""A TPE sampler whose draws depend on a trial's rank, not on the process that asks.

optuna's ``TPESampler(seed)`` keeps one random stream per process, so a study resumed by a
new process, or shared by several, would draw differently from one uninterrupted run. Here
every draw uses a fresh ``TPESampler(multivariate=True)`` seeded by the compile seed and the
trial's rank (its position among the search trials), so trial k proposes the same
combination given the same history, whichever worker runs it and however often the compile
was interrupted. The history itself (the study's finished trials) is what TPE learns from.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
import zlib
from collections.abc import Callable, Iterator
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, TPESampler
from optuna.study import Study
from optuna.trial import FrozenTrial

RankOf = Callable[[Study, int], int]


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Around optuna calls: its INFO logs, experimental-API and heartbeat warnings are noise
    in a compile, which reports its own progress."""
    logger = logging.getLogger("optuna")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def mix(*parts: object) -> int:
    """A stable 32-bit seed from ``parts`` (Python's hash() is salted per process)."""
    return zlib.crc32("/".join(map(str, parts)).encode())


class RankSeededTPE(BaseSampler):
    def __init__(self, seed: int, rank_of: RankOf) -> None:
        self._seed = seed
        self._rank_of = rank_of
        self._ranks: dict[int, int] = {}  # one trial's draws share one rank lookup

    def _rank(self, study: Study, number: int) -> int:
        if number not in self._ranks:
            self._ranks[number] = self._rank_of(study, number)
        return self._ranks[number]

    def _tpe(self, *key: object) -> TPESampler:
        # constant_liar: trials asked together (``parallel_trials``) count each other, while
        # running, as bad results, so one batch does not propose one combination k times.
        return TPESampler(seed=mix(self._seed, *key), multivariate=True, constant_liar=True)

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        with quiet():  # multivariate TPE is flagged experimental
            return self._tpe("space").infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        rank = self._rank(study, trial.number)
        with quiet():
            return self._tpe("relative", rank).sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        # Each parameter gets its own stream, so two same-sized choices are not drawn alike.
        rank = self._rank(study, trial.number)
        with quiet():
            tpe = self._tpe("independent", rank, param_name)
            return tpe.sample_independent(study, trial, param_name, param_distribution)
