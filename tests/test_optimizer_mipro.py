"""MIPROv2 on a synthetic ticket-routing task with the stand-in model.

The Python-API tests compile on one split and score on a held-out one. The CLI tests run
``castlm compile`` in subprocesses: two workers sharing one SQLite study, and a compile
killed mid-search that a rerun resumes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import optuna
import pytest
from castlm import LMCache, Module, PredictorParams
from castlm.compiler.errors import CompileError
from castlm.compiler.evaluate import Evaluator
from castlm.compiler.optimizers import OptimizeContext, OptimizeResult, make_optimizer
from castlm.compiler.optimizers.mipro.settings import (
    MiproSettings,
    full_evaluations,
    minibatching,
    redact,
)
from castlm.testing import StandInLM
from support.ticket_task import examples, load_program, write_project

# VAL has more than 50 rows: below that, trials are full evaluations (as DSPy).
TRAIN, VAL, DEV = examples(24, 1), examples(60, 3), examples(40, 2)
SMALL: dict[str, Any] = {
    "num_candidates": 6,
    "num_trials": 8,
    "minibatch_size": 10,
    "proposal_examples": 20,
}


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return load_program(write_project(tmp_path_factory.mktemp("ticket")))


class Run:
    """One Python-API compile with separate stand-ins per role (no cache: calls are real)."""

    def __init__(self, task: ModuleType, work_dir: Path | None, **options: Any) -> None:
        self.task, self.task_lm, self.prompt_lm = task, StandInLM(), StandInLM()
        self.student = task.Router()
        self.student.set_lm(self.task_lm)
        self.evaluator = Evaluator(task.accuracy, threads=2)
        self.ctx = OptimizeContext(
            self.task_lm,
            self.evaluator,
            task.accuracy,
            prompt_lm=self.prompt_lm,
            threads=2,
            work_dir=work_dir,
        )
        optimizer = make_optimizer("mipro", {**SMALL, **options})
        self.result: OptimizeResult = optimizer.compile(
            self.student.deepcopy(), trainset=TRAIN, valset=VAL, ctx=self.ctx
        )

    def dev_score(self, params: Mapping[str, PredictorParams] | None = None) -> float:
        program: Module = self.task.Router()
        program.set_lm(StandInLM())
        if params is not None:
            program.set_params(params)
        return self.evaluator(program, DEV).score


def only_study(work_dir: Path) -> optuna.Study:
    url = f"sqlite:///{work_dir / 'mipro.db'}"
    (name,) = optuna.get_all_study_names(url)
    return optuna.load_study(study_name=name, storage=url)


def test_compiled_beats_zero_shot_with_grounded_instructions(task: ModuleType) -> None:
    run = Run(task, None)
    original = task.Router().route.instructions
    chosen = run.result.params["route"]
    assert run.dev_score(run.result.params) > run.dev_score()
    # The instruction changed: the original, then rules the stand-in derived from the data.
    assert chosen.instructions != original and chosen.instructions.startswith(original)
    assert "queue is" in chosen.instructions or "set queue to" in chosen.instructions
    # ... and the stand-in follows it: the instruction alone beats zero-shot too.
    assert run.dev_score({"route": PredictorParams(chosen.instructions)}) > run.dev_score()


def test_slot_zero_keeps_the_original_and_no_proposal_is_wasted_on_it(task: ModuleType) -> None:
    run = Run(task, None)
    # num_candidates=6: 6 demo sets and, as in DSPy, 6 instruction slots (an explicit count
    # is not halved); slot 0 is the original, so 5 proposals, plus 3 dataset batches
    # described and 1 summary, and the program and its one step described, all on the
    # prompt model.
    assert run.prompt_lm.stats.calls == 5 + 3 + 1 + 2
    assert run.result.stats["lm_calls_proposals"] == 5
    instructions = {t.params["route"].instructions for t in run.ctx.trials}
    assert task.Router().route.instructions in instructions


def test_lm_calls_are_reported_per_phase(task: ModuleType) -> None:
    run = Run(task, None)
    stats = run.result.stats
    real = run.task_lm.stats.calls + run.prompt_lm.stats.calls
    assert stats["lm_calls"] == real > 0
    phases = ("demo_sets", "grounding", "proposals", "search")
    assert sum(stats[f"lm_calls_{p}"] for p in phases) == real
    assert any("LM calls" in note for note in run.result.notes)


def test_first_trial_is_the_unmodified_program_and_full_evals_follow_the_schedule(
    task: ModuleType, tmp_path: Path
) -> None:
    run = Run(task, tmp_path, num_trials=7, minibatch_full_eval_steps=3)
    study = only_study(tmp_path)
    first = study.trials[0]
    assert first.params == {"route::instruction": 0, "route::demos": 0}
    assert first.user_attrs["castlm"] == "trial" and first.value is not None
    searched = [t for t in study.trials if t.user_attrs.get("castlm") == "trial"]
    # As in DSPy, the unmodified program is not one of the num_trials trials.
    assert len(searched) == 7 + 1
    slots = [t.user_attrs["castlm_slot"] for t in study.trials if "castlm_slot" in t.user_attrs]
    assert slots == ["unmodified", "step 3", "step 6", "final"]
    assert len(slots) == full_evaluations(8, 3, every_trial=False)
    # every full evaluation was offered, and the answer is the best of them
    fulls = [t.value or 0.0 for t in study.trials if "castlm_slot" in t.user_attrs]
    assert sorted(t.score for t in run.ctx.trials) == sorted(fulls)
    assert run.result.stats["best_score"] == max(fulls)


def test_a_rerun_resumes_the_study_without_lm_calls(task: ModuleType, tmp_path: Path) -> None:
    first = Run(task, tmp_path)
    again = Run(task, tmp_path)
    assert again.result.params == first.result.params
    assert again.result.stats["trials"] == 0 and again.result.stats["lm_calls"] == 0
    assert any("resumed study" in note for note in again.result.notes)
    other_seed = Run(task, tmp_path, seed=10)  # other settings: another study
    assert other_seed.result.stats["trials"] == SMALL["num_trials"] + 1  # + the unmodified
    assert len(optuna.get_all_study_names(f"sqlite:///{tmp_path / 'mipro.db'}")) == 2


def test_zero_shot_mode_searches_instructions_only(task: ModuleType) -> None:
    run = Run(task, None, max_bootstrapped_demos=0, max_labeled_demos=0)
    assert run.result.params["route"].demos == ()
    # n instruction slots in zero-shot mode: 5 proposals (demo sets only grounded them)
    assert run.result.stats["lm_calls_proposals"] == 5
    assert run.result.stats["lm_calls_demo_sets"] > 0
    assert all(t.params["route"].demos == () for t in run.ctx.trials)
    assert run.dev_score(run.result.params) > run.dev_score()


def test_every_trial_is_a_full_evaluation_when_the_minibatch_covers_the_valset(
    task: ModuleType,
) -> None:
    run = Run(task, None, minibatch_size=len(VAL), num_trials=4)
    stats = run.result.stats
    assert stats["full_evals"] == 0  # no separate full evaluations
    assert stats["study_full_evals"] == 4 + 1 == len(run.ctx.trials)  # + the unmodified
    assert stats["program_runs"] == (4 + 1) * len(VAL)


def test_settings_presets_and_errors() -> None:
    light = MiproSettings()
    assert (light.candidates, light.instruction_count, light.valset_cap) == (6, 3, 100)
    assert light.trials(1) == 10  # the reference's light run for one predictor
    assert MiproSettings(max_bootstrapped_demos=0, max_labeled_demos=0).trials(1) == 9
    assert MiproSettings(auto="medium").trials(2) == 28
    assert MiproSettings(auto="heavy").valset_cap == 1000
    assert MiproSettings(num_trials=3).trials(4) == 3
    assert MiproSettings(auto=None, num_candidates=4).valset_cap is None
    # DSPy halves the preset's n for instructions, never an explicit num_candidates
    assert MiproSettings(num_candidates=4).instruction_count == 4
    # minibatches only above DSPy's 50 validation rows (and above one minibatch)
    assert not minibatching(MiproSettings(), 50) and minibatching(MiproSettings(), 51)
    assert not minibatching(MiproSettings(minibatch_size=60), 55)
    with pytest.raises(CompileError, match="num_candidates"):
        make_optimizer("mipro", {"auto": None})
    with pytest.raises(CompileError, match="did you mean 'num_trials'"):
        make_optimizer("mipro", {"num_trial": 3})


def test_storage_passwords_stay_out_of_the_manifest() -> None:
    url = "postgresql://castlm:s3cret@db.internal:5432/studies"
    described = make_optimizer("mipro", {"storage": url}).describe()
    assert described["settings"]["storage"] == "postgresql://castlm:***@db.internal:5432/studies"
    assert redact("sqlite:///tmp/x.db") == "sqlite:///tmp/x.db"


# -- castlm compile in subprocesses ---------------------------------------------------------
CLI_OPTIONS: dict[str, Any] = {**SMALL, "auto": "light"}


def compile_cli(project: Path, *extra: str, **env: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "castlm.compiler.cli", "compile", str(project)]
    command += ["--optimizer", "mipro", "--json", *extra]
    return subprocess.Popen(
        command,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    summary: dict[str, Any] = json.loads(out)
    return summary


def test_two_workers_share_one_study_and_run_exactly_num_trials(tmp_path: Path) -> None:
    # 80 rows: the 64 that validate are enough for minibatches (more than 50).
    project = write_project(tmp_path / "p", train=80, dev=12, **CLI_OPTIONS)
    # A short sleep per scored example keeps both workers busy at the same time.
    env = {"TICKET_TASK_MARKER": str(tmp_path / "marker"), "TICKET_TASK_SLEEP": "0.01"}
    workers = [compile_cli(project, "--out", str(tmp_path / f"out{i}"), **env) for i in (1, 2)]
    summaries = [finish(w) for w in workers]
    study = only_study(project / ".castlm")
    searched = [t for t in study.trials if t.user_attrs.get("castlm") == "trial"]
    complete = [t for t in searched if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == SMALL["num_trials"] + 1  # + the unmodified program
    assert {t.state for t in searched} <= {
        optuna.trial.TrialState.COMPLETE,
        optuna.trial.TrialState.PRUNED,  # a slot claimed after the last one was taken
    }
    assert len({tuple(t.user_attrs["castlm_worker"]) for t in complete}) == 2
    # every full-evaluation slot was recorded once, by one of them
    fulls = [t for t in study.trials if t.user_attrs.get("castlm") == "full"]
    recorded = [t.user_attrs["castlm_slot"] for t in fulls if t.state.name == "COMPLETE"]
    assert recorded and len(recorded) == len(set(recorded))
    # both emitted the same answer: the best full evaluation of the shared study
    assert summaries[0]["scores"]["compiled"] == summaries[1]["scores"]["compiled"]


def test_a_killed_compile_resumes_its_study_without_repeating_lm_calls(tmp_path: Path) -> None:
    reference = write_project(tmp_path / "reference", train=80, dev=12, **CLI_OPTIONS)
    project = write_project(tmp_path / "killed", train=80, dev=12, **CLI_OPTIONS)
    marker = tmp_path / "reference-marker"
    uninterrupted = compile_cli(reference, TICKET_TASK_MARKER=str(marker))
    # The same compile, killed (SIGKILL from inside the metric) after 190 scored examples:
    # past the baseline, the demo sets and the first full evaluation, inside the search.
    env = {"TICKET_TASK_MARKER": str(tmp_path / "marker"), "TICKET_TASK_KILL_AFTER": "190"}
    killed = compile_cli(project, **env)
    killed.communicate(timeout=120)
    assert killed.returncode != 0
    done_before = LMCache.default(project).size()  # one cache entry per real LM call
    interrupted = only_study(project / ".castlm")
    finished = [t for t in interrupted.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert 0 < len([t for t in finished if t.user_attrs.get("castlm") == "trial"]) < 9

    resumed = finish(compile_cli(project))
    expected = finish(uninterrupted)
    assert any("resumed study" in note for note in resumed["notes"])
    # Together, the killed run and the resumed one made exactly the calls of one
    # uninterrupted compile: nothing done before the kill was done again.
    assert done_before + resumed["lm_calls"] == expected["lm_calls"]
    assert resumed["scores"] == expected["scores"]
    study = only_study(project / ".castlm")
    searched = [t for t in study.trials if t.user_attrs.get("castlm") == "trial"]
    assert len([t for t in searched if t.state == optuna.trial.TrialState.COMPLETE]) == 9
