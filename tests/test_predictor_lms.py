"""Per-predictor LMs: named predictors are optimized on their own LM, which is frozen as
their model in the result and the package; mistakes are errors naming the config file."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest
from castlm.compiler import optimize
from castlm.compiler.cli import EXIT_OK, EXIT_USER, main
from castlm.compiler.errors import CompileError
from castlm.testing import StandInLM
from support.ticket_task import examples, load_program, write_project


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return load_program(write_project(tmp_path_factory.mktemp("ticket")))


def test_a_predictor_runs_on_its_own_lm_and_keeps_it_as_its_model(task: ModuleType) -> None:
    big, small = StandInLM(model="big"), StandInLM(model="small")
    result = optimize(
        task.Desk(),
        trainset=examples(12, 1),
        metric=task.accuracy,
        optimizer="bootstrap",
        options={"max_bootstrapped_demos": 2, "max_labeled_demos": 0},
        lm=big,
        predictor_lms={"flag": small},
    )
    assert small.stats.calls > 0 and big.stats.calls > 0
    assert small.stats.calls < big.stats.calls + small.stats.calls  # route stayed on big
    assert result.params["flag"].model == "small" and result.params["route"].model is None


def test_an_unknown_predictor_is_an_error_with_a_suggestion(task: ModuleType) -> None:
    with pytest.raises(CompileError, match="did you mean 'flag'"):
        optimize(
            task.Desk(),
            trainset=examples(4, 1),
            metric=task.accuracy,
            lm=StandInLM(),
            predictor_lms={"flags": StandInLM()},
        )


def _project(tmp_path: Path, table: str) -> Path:
    root = write_project(tmp_path / "p", train=12, dev=4)
    config = (
        (root / "castlm.toml")
        .read_text()
        .replace('program = "program.py:Router"', 'program = "program.py:Desk"')
    )
    head, options = config.split("[optimizer_options]")
    (root / "castlm.toml").write_text(f"{head}{table}\n[optimizer_options]{options}")
    return root


def test_compile_counts_the_predictor_lm_and_freezes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _project(tmp_path, '[predictor_lms]\nflag = "standin"\n')
    assert main(["compile", str(root), "--json", "--optimizer", "labeled"]) == EXIT_OK
    outcome = json.loads(capsys.readouterr().out)
    assert any("predictor:flag" in lm["roles"] for lm in outcome["lms"])
    manifest = json.loads((root / "build/desk/desk/manifest.json").read_text())
    assert manifest["predictor_lms"] == {"flag": "standin"}
    frozen = (root / "build/desk/desk/_frozen.py").read_text()
    assert frozen.count('model="standin"') == 1  # flag's, not route's


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('[predictor_lms]\nflag = "openai/gpt-4o-mini"\n', "uses another backend than lm"),
        ('[predictor_lms]\nrout = "standin"\n', "did you mean 'route'"),
        ("[predictor_lms]\nflag = 3\n", "predictor_lms.flag must be an LM name"),
    ],
)
def test_config_mistakes_name_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], table: str, message: str
) -> None:
    root = _project(tmp_path, table)
    assert main(["compile", str(root)]) == EXIT_USER
    err = capsys.readouterr().err
    assert message in err and "castlm.toml" in err


def test_every_ensemble_member_freezes_the_predictor_lm(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _project(tmp_path, '[predictor_lms]\nflag = "standin"\n')
    args = ["compile", str(root), "--optimizer", "ensemble", "--option", "size=2"]
    args += ["--option", 'base_options={"max_bootstrapped_demos": 1, "max_labeled_demos": 1}']
    assert main(args) == EXIT_OK
    frozen = (root / "build/desk/desk/_frozen.py").read_text()
    assert frozen.count('model="standin"') == 2  # flag's, in each member
