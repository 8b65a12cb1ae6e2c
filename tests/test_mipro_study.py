"""The MIPROv2 study shared by workers: each full-evaluation slot is run and recorded once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from castlm.compiler.optimizers.mipro.study import HOST, WORKER, SharedStudy
from optuna.distributions import CategoricalDistribution

DISTRIBUTIONS = {"route::instruction": CategoricalDistribution([0, 1, 2])}
COMBO = {"route::instruction": 2}


def two_workers(tmp_path: Path) -> tuple[SharedStudy, SharedStudy]:
    """Two handles on one SQLite study, as two compile processes have."""
    url = f"sqlite:///{tmp_path / 'mipro.db'}"
    first, second = (SharedStudy.open(url, "castlm-mipro-test", 0, 60) for _ in range(2))
    return first, second


def test_a_slot_claimed_by_one_worker_is_neither_run_nor_recorded_by_another(
    tmp_path: Path,
) -> None:
    a, b = two_workers(tmp_path)
    claim = a.claim_full(COMBO, DISTRIBUTIONS, "step 3")
    assert claim is not None
    # b decided the same slot was due before a recorded it: it loses to a's live claim.
    assert b.claim_full(COMBO, DISTRIBUTIONS, "step 3") is None
    assert b.slots() == {"step 3"}
    a.finish_full(claim, 75.0)
    assert b.claim_full(COMBO, DISTRIBUTIONS, "step 3") is None
    assert [(t.value, t.user_attrs["castlm_slot"]) for t in b.full_records()] == [(75.0, "step 3")]


def test_a_failed_evaluation_frees_its_slot(tmp_path: Path) -> None:
    a, b = two_workers(tmp_path)
    claim = a.claim_full(COMBO, DISTRIBUTIONS, "final")
    assert claim is not None
    a.finish_full(claim, None)
    assert b.slots() == set()
    assert b.claim_full(COMBO, DISTRIBUTIONS, "final") is not None


def test_the_claim_of_a_dead_worker_is_reaped(tmp_path: Path) -> None:
    a, b = two_workers(tmp_path)
    claim = a.claim_full(COMBO, DISTRIBUTIONS, "unmodified")
    assert claim is not None
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    a.study._storage.set_trial_user_attr(claim, WORKER, [HOST, dead.pid])
    b.reap(grace=60)
    assert b.claim_full(COMBO, DISTRIBUTIONS, "unmodified") is not None
