"""The Python API: every optimizer through optimize(), and compile() as a function."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import castlm.compiler as castlm_compiler
import pytest
from castlm import ConfigurationError
from castlm.compiler import OPTIMIZERS, optimize
from castlm.testing import StandInLM
from support.ticket_task import examples, load_program, write_project

TRAIN, DEV = examples(24, 1), examples(24, 2)

# Small settings, so that every optimizer runs in about a second with the stand-in.
OPTIONS: dict[str, dict[str, Any]] = {
    "labeled": {"k": 4},
    "bootstrap": {"max_bootstrapped_demos": 2, "max_labeled_demos": 4},
    "random_search": {"num_candidate_programs": 2, "max_labeled_demos": 4},
    "copro": {"breadth": 3, "depth": 1},
    "simba": {"bsize": 8, "num_candidates": 2, "max_steps": 2},
    "knn": {"k": 2},
    "ensemble": {"size": 2},
    "finetune": {"export_only": True},
    "mipro": {"num_candidates": 3, "num_trials": 3, "minibatch_size": 8},
    "gepa": {"max_metric_calls": 120},
    "better_together": {
        "strategy": "p -> w",
        "prompt_options": {"num_candidate_programs": 1, "max_labeled_demos": 4},
        "weight_options": {"export_only": True},
    },
}


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return load_program(write_project(tmp_path_factory.mktemp("api")))


def test_every_registered_optimizer_has_settings_here() -> None:
    assert set(OPTIONS) == set(OPTIMIZERS)


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_optimize_runs_every_optimizer_in_process(
    name: str, task: ModuleType, tmp_path: Path
) -> None:
    program = task.Router()
    result = optimize(
        program,
        trainset=TRAIN,
        metric=task.accuracy,
        optimizer=name,
        options=OPTIONS[name],
        lm=StandInLM(),
        work_dir=tmp_path,
    )
    assert set(result.params) == {n for n, _ in program.named_predictors()}
    assert program.get_params() != result.params or name == "finetune"  # the input is untouched
    compiled = result.program(program)
    compiled.set_lm(StandInLM())
    prediction = compiled(**DEV[0].inputs())
    assert prediction.queue in {"billing", "shipping", "account", "technical"}


def test_optimize_needs_an_lm(task: ModuleType) -> None:
    with pytest.raises(ConfigurationError, match="needs an LM"):
        optimize(task.Router(), trainset=TRAIN, metric=task.accuracy)


def test_compile_is_the_cli_pipeline_as_a_function(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = write_project(tmp_path / "p", train=24, dev=12)
    monkeypatch.chdir(project)
    outcome = castlm_compiler.compile(
        "program.py:Router",
        train="data/train.jsonl",
        dev="data/dev.jsonl",
        metric="program.py:accuracy",
        lm="standin",
        optimizer="copro",
        options={"breadth": 3, "depth": 1},
        out="build/router",
        verify=False,
    )
    assert outcome.compiled is not None and outcome.baseline is not None
    assert outcome.compiled > outcome.baseline
    assert (project / "build/router/router/_frozen.py").is_file()
    assert castlm_compiler.compile_configured(project)[0].up_to_date is False
