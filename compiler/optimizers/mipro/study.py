"""The optuna study MIPROv2 searches in, shared by workers and kept across compiles.

The study lives in an optuna storage: by default SQLite under the project's ``.castlm/``,
or any optuna RDB URL (PostgreSQL, MySQL) given as ``storage``. Its name is a hash of the
program, the data and the settings, so every ``castlm compile`` of the same inputs (another
process, another machine pointing at the same database, or a rerun after an interruption)
opens the same study and continues it.

What the study holds:

- the candidates (instructions and demo sets, as a study attribute), written by the first
  worker to finish proposing; later workers use them instead of proposing their own, so a
  trial's parameters mean the same to everyone;
- search trials: optuna trials over per-predictor instruction and demo-set indices, scored
  on a minibatch. Slots are claimed with ``study.ask()``: a trial's *rank* is the number of
  live search trials before it, and one ranked at ``num_trials`` or later is pruned unrun,
  so all workers together run exactly ``num_trials``;
- full evaluations: trials marked ``castlm=full``, each for a *slot* (the unmodified
  program, every ``minibatch_full_eval_steps``-th rank, the final one). A worker claims a
  slot before evaluating it, by adding a RUNNING trial for it; the lowest-numbered live claim
  wins (trial numbers are assigned atomically by the storage), so no slot is evaluated or
  recorded twice, however the workers interleave.

A trial of a worker that died stays RUNNING in the storage. A worker fails such trials
(which frees their slots) when their process is gone from this machine, or, for other
machines, when their heartbeat is older than four heartbeat intervals (optuna's
``fail_stale_trials``).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from castlm import Example, Module
from optuna.distributions import BaseDistribution
from optuna.storages import BaseStorage, InMemoryStorage, RDBStorage, fail_stale_trials
from optuna.trial import FrozenTrial, Trial, TrialState
from sqlalchemy import event
from sqlalchemy.engine import make_url

from ...errors import CompileError
from .sampler import RankSeededTPE, quiet
from .settings import redact

KIND = "castlm"  # user attribute: "trial" (a search trial) or "full" (a full evaluation)
WORKER = "castlm_worker"  # user attribute: [host, pid] of the process running a trial
SLOT = "castlm_slot"  # user attribute of a full evaluation: which slot it fills
FULL = "castlm_full"  # user attribute of a search trial that covered the whole valset
CANDIDATES = "castlm_candidates"  # study attribute: the shared candidates
LIVE = (TrialState.RUNNING, TrialState.COMPLETE, TrialState.WAITING)
HOST = socket.gethostname()


def default_storage(work_dir: Path | None) -> str | None:
    """``sqlite:///<work_dir>/mipro.db``; None (in memory) without a work dir."""
    if work_dir is None:
        return None
    work_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{work_dir.resolve() / 'mipro.db'}"


def open_storage(url: str | None, heartbeat: int) -> BaseStorage:
    if url is None:
        return InMemoryStorage()
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        # Several worker processes write one file: wait for the lock instead of failing.
        kwargs = {"connect_args": {"timeout": 60}}
        _use_wal(url)
    last: Exception | None = None
    for attempt in range(5):
        try:
            with quiet():
                storage = RDBStorage(
                    url,
                    engine_kwargs=kwargs,
                    heartbeat_interval=heartbeat,
                    grace_period=4 * heartbeat,
                )
        except Exception as exc:  # two workers creating the tables at once: try again
            last = exc
            time.sleep(0.2 * (attempt + 1))
        else:
            if url.startswith("sqlite"):
                _sync_normally(storage)
            return storage
    raise CompileError(
        f"cannot open the MIPROv2 study storage {redact(url)}: {last}; "
        f"check the `storage` option (an optuna RDB URL such as sqlite:///path/mipro.db)"
    )


def _use_wal(url: str) -> None:
    """Write-ahead logging: readers do not block the writer, and commits are cheaper. The
    mode is stored in the database file, so setting it once serves every worker."""
    path = make_url(url).database
    if not path or path == ":memory:":
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # Switching the journal mode needs an exclusive lock, and SQLite answers "database is
    # locked" at once (no busy wait) when two workers race to switch it: retry until one won.
    for attempt in range(50):
        try:
            with contextlib.closing(sqlite3.connect(path, timeout=60)) as conn:
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()
            if mode and str(mode[0]).lower() == "wal":
                return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
        time.sleep(0.05 * (1 + attempt % 5))
    raise CompileError(f"cannot switch the MIPROv2 study {path} to WAL mode: it stays locked")


def _sync_normally(storage: RDBStorage) -> None:
    """With WAL, synchronous=NORMAL is still crash-safe (a power cut may lose the last
    commits, never corrupt the file) and saves an fsync per optuna write."""

    def pragma(connection: Any, _record: Any) -> None:
        connection.execute("PRAGMA synchronous=NORMAL")

    event.listen(storage.engine, "connect", pragma)
    storage.engine.dispose()  # pooled connections opened before the listener go


def study_name(
    student: Module,
    trainset: Sequence[Example],
    valset: Sequence[Example],
    settings: Mapping[str, Any],
    extra: Mapping[str, Any],
) -> str:
    """A name that changes whenever the program, the data or the settings do."""
    program = [
        {
            "name": name,
            "signature": p.spec.name,
            "fields": [[f.name, f.role, f.type_description] for f in p.spec.fields.values()],
            "instructions": p.instructions,
            "demos": list(p.demos),
        }
        for name, p in student.named_predictors()
    ]
    data = {
        "program": [type(student).__qualname__, program],
        "train": [_row(ex) for ex in trainset],
        "val": [_row(ex) for ex in valset],
        "settings": dict(settings),
        **extra,
    }
    blob = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return "castlm-mipro-" + hashlib.sha256(blob.encode()).hexdigest()[:20]


def _row(example: Example) -> list[Any]:
    try:
        inputs = sorted(example.input_keys)
    except ValueError:
        inputs = []
    return [example.to_dict(), inputs]


@dataclass
class SharedStudy:
    study: optuna.Study
    url: str | None

    @classmethod
    def open(cls, url: str | None, name: str, seed: int, heartbeat: int) -> SharedStudy:
        storage = open_storage(url, heartbeat)
        sampler = RankSeededTPE(seed, lambda study, number: _rank(study, number))
        with quiet():
            study = optuna.create_study(
                storage=storage,
                study_name=name,
                sampler=sampler,
                direction="maximize",
                load_if_exists=True,
            )
        return cls(study, url)

    # -- candidates ---------------------------------------------------------------------
    def candidates(self) -> dict[str, Any] | None:
        value = self.study.user_attrs.get(CANDIDATES)
        return value if isinstance(value, dict) else None

    def share_candidates(self, mine: dict[str, Any]) -> dict[str, Any]:
        """Store ``mine`` unless another worker stored its own first; return the stored ones."""
        stored = self.candidates()
        if stored is None:
            self.study.set_user_attr(CANDIDATES, mine)
            stored = self.candidates()
        return stored if stored is not None else mine

    # -- search trials ------------------------------------------------------------------
    def enqueue_default(self, params: dict[str, Any]) -> None:
        """The unmodified program is the first search trial (once per study)."""
        if not self.study.get_trials(deepcopy=False):
            with quiet():
                self.study.enqueue_trial(params, user_attrs={KIND: "trial"}, skip_if_exists=True)

    def search_trials(self, *states: TrialState) -> list[FrozenTrial]:
        """The search trials (not the full evaluations), in trial-number order."""
        trials = self.study.get_trials(deepcopy=False, states=states or None)
        return [t for t in trials if t.user_attrs.get(KIND) != "full"]

    def rank_of(self, number: int) -> int:
        return _rank(self.study, number)

    def claim(self, num_trials: int) -> tuple[Trial, int] | None:
        """A search trial for this worker and its rank, or None when all ``num_trials`` are
        claimed."""
        live = self.search_trials(*LIVE)
        waiting = any(t.state == TrialState.WAITING for t in live)
        if len(live) >= num_trials and not waiting:
            return None
        with quiet():
            trial = self.study.ask()
        trial.set_user_attr(KIND, "trial")
        trial.set_user_attr(WORKER, [HOST, os.getpid()])
        rank = self.rank_of(trial.number)
        if rank >= num_trials:  # another worker took the last slot
            self.tell(trial, state=TrialState.PRUNED)
            return None
        return trial, rank

    def tell(
        self, trial: Trial | int, value: float | None = None, state: TrialState | None = None
    ) -> None:
        with quiet():
            self.study.tell(trial, value, state=state, skip_if_finished=True)

    @contextlib.contextmanager
    def heartbeat(self, trial: Trial | int) -> Iterator[None]:
        """Record the heartbeat of a trial (or trial id) while it runs (RDB storages only)."""
        storage = self.study._storage
        if not isinstance(storage, RDBStorage) or storage.get_heartbeat_interval() is None:
            yield
            return
        interval = storage.get_heartbeat_interval() or 1
        # optuna's own optimize() keys heartbeats by trial id too
        trial_id = trial if isinstance(trial, int) else trial._trial_id
        stop = threading.Event()

        def beat() -> None:
            while True:
                storage.record_heartbeat(trial_id)
                if stop.wait(interval):
                    return

        thread = threading.Thread(target=beat, name="castlm-mipro-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def reap(self, grace: float) -> None:
        """Fail the trials of dead workers, freeing their slots."""
        now = datetime.datetime.now()
        running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        for trial in running:  # search trials and full-evaluation claims
            owner = trial.user_attrs.get(WORKER)
            if owner is None:  # died between ask() and labelling its trial
                started = trial.datetime_start
                if started is not None and (now - started).total_seconds() > grace:
                    self.tell(trial.number, state=TrialState.FAIL)
            elif owner[0] == HOST and owner[1] != os.getpid() and not _alive(int(owner[1])):
                self.tell(trial.number, state=TrialState.FAIL)
        with quiet():  # other machines: heartbeats older than the grace period
            fail_stale_trials(self.study)

    # -- full evaluations ---------------------------------------------------------------
    def full_records(self) -> list[FrozenTrial]:
        """Full evaluations in the order they were recorded (search trials that covered the
        whole valset included)."""
        return [
            t
            for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.user_attrs.get(KIND) == "full" or t.user_attrs.get(FULL)
        ]

    def claims(self, *states: TrialState) -> list[FrozenTrial]:
        """Full evaluations recorded or being run (RUNNING claims), in trial-number order."""
        states = states or (TrialState.RUNNING, TrialState.COMPLETE)
        trials = self.study.get_trials(deepcopy=False, states=states)
        return [t for t in trials if t.user_attrs.get(KIND) == "full" or t.user_attrs.get(FULL)]

    def slots(self) -> set[str]:
        """The full-evaluation slots filled or claimed by a live worker."""
        return {str(t.user_attrs[SLOT]) for t in self.claims() if SLOT in t.user_attrs}

    def claim_full(
        self, params: dict[str, Any], distributions: Mapping[str, BaseDistribution], slot: str
    ) -> int | None:
        """Claim ``slot`` for evaluating ``params``: the id of this worker's RUNNING claim,
        or None when another worker's claim came first (this one is then failed)."""
        record = optuna.trial.create_trial(
            state=TrialState.RUNNING,
            params=params,
            distributions=dict(distributions),
            user_attrs={KIND: "full", SLOT: slot, WORKER: [HOST, os.getpid()]},
        )
        storage = self.study._storage
        trial_id = storage.create_new_trial(self.study._study_id, template_trial=record)
        number = storage.get_trial_number_from_id(trial_id)
        first = min(t.number for t in self.claims() if t.user_attrs.get(SLOT) == slot)
        if first != number:
            storage.set_trial_state_values(trial_id, TrialState.FAIL)
            return None
        return trial_id

    def finish_full(self, trial_id: int, score: float | None) -> None:
        """Record the score of a claimed full evaluation (None: it failed; the slot is free)."""
        storage = self.study._storage
        if score is None:
            storage.set_trial_state_values(trial_id, TrialState.FAIL)
        else:
            storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [score])


def _rank(study: optuna.Study, number: int) -> int:
    """Live search trials numbered below ``number``: this trial's place in the search."""
    return sum(
        1
        for t in study.get_trials(deepcopy=False, states=LIVE)
        if t.number < number and t.user_attrs.get(KIND) != "full"
    )


def _alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would end the process there; heartbeats decide
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
