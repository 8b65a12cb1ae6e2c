"""``castlm compile --mlflow`` and the pyfunc model, against a real local MLflow store (a SQLite
database the compile creates; MLflow 3 refuses its file store by default), and without mlflow
installed."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from castlm.compiler.cli import _parser, configs_for, main
from castlm.compiler.config import load_config_file
from castlm.compiler.errors import CompileError
from castlm.compiler.mlflow_params import compile_params
from castlm.compiler.pipeline import compile_program
from support.project import write_project

SECRET = "hunter2-SECRET-pw"


def project(root: Path, mlflow_table: str, **options: Any) -> Path:
    return write_project(
        root,
        optimizer="random_search",
        options={"num_candidate_programs": 2, "max_labeled_demos": 4, **options},
        extra=f'base_url = "http://user:{SECRET}@127.0.0.1:9/v1"\n{mlflow_table}',
    )


def test_missing_mlflow_names_the_extra_and_the_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project(tmp_path / "p", "")
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow raises ImportError
    code = main(["compile", str(root), "--no-verify", "--mlflow", "sqlite:///m.db"])
    err = capsys.readouterr().err
    assert code == 1
    assert "--mlflow" in err and "pip install 'castlm[mlflow]'" in err
    assert not (root / "build").exists()  # it stopped before any LM call


def test_the_config_table_is_checked_at_its_file(tmp_path: Path) -> None:
    root = project(tmp_path / "p", "[mlflow]\nexperiment = 3\n")
    with pytest.raises(CompileError, match=r"mlflow.experiment must be str"):
        load_config_file(root / "castlm.toml")


def test_params_never_hold_secrets(tmp_path: Path) -> None:
    root = project(tmp_path / "p", "")
    (config,) = load_config_file(root / "castlm.toml")
    config = replace(config, lm_settings={"extra_body": {"k": SECRET}})
    params = dict(compile_params(config))
    assert SECRET not in json.dumps(params)
    assert params["base_url"] == "http://user:***@127.0.0.1:9/v1"
    assert params["lm_settings.extra_body"] == '["k"]'


def test_the_flag_s_uri_wins_over_the_file_s_and_keeps_its_other_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(tmp_path / "p", '[mlflow]\ntracking_uri = "sqlite:///a.db"\nexperiment = "x"\n')
    (from_file,) = load_config_file(root / "castlm.toml")
    assert from_file.mlflow is not None
    assert from_file.mlflow.tracking_uri == f"sqlite:///{root / 'a.db'}"
    assert from_file.mlflow.artifact_root() == (root / "mlruns").as_uri()
    monkeypatch.chdir(tmp_path)
    args = _parser().parse_args(["compile", str(root), "--mlflow", "sqlite:///b.db"])
    (config,) = configs_for(args.target, args)
    assert config.mlflow is not None and "mlflow" in config.flags
    assert config.mlflow.tracking_uri == f"sqlite:///{tmp_path / 'b.db'}"
    assert config.mlflow.experiment == "x"
    args = _parser().parse_args(["compile", str(root), "--mlflow"])
    (bare,) = configs_for(args.target, args)
    assert bare.mlflow == from_file.mlflow


mlflow = pytest.importorskip("mlflow", reason="mlflow is not installed: pip install castlm[mlflow]")


def test_an_unreachable_store_fails_at_its_config_line_before_any_lm_call(
    tmp_path: Path,
) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    root = project(tmp_path / "p", f'[mlflow]\ntracking_uri = "http://127.0.0.1:{port}"\n')
    (config,) = load_config_file(root / "castlm.toml")
    with pytest.raises(CompileError) as caught:
        compile_program(config)
    message = str(caught.value)
    assert f"{root / 'castlm.toml'}:9" in message  # the [mlflow] header's line
    assert f"cannot reach the MLflow tracking store http://127.0.0.1:{port}" in message
    assert not (root / "build").exists() and not (root / ".castlm" / "cache").exists()


def test_a_compile_is_logged_as_a_run_and_its_package_as_a_pyfunc_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = (
        '[mlflow]\ntracking_uri = "sqlite:///mlflow.db"\nexperiment = "triage"\nlog_model = true\n'
    )
    root = project(tmp_path / "p", table)
    monkeypatch.setenv("CASTLM_API_KEY", SECRET)
    (config,) = load_config_file(root / "castlm.toml")
    outcome = compile_program(config)
    assert not outcome.warnings, outcome.warnings

    store = f"sqlite:///{tmp_path / 'p' / 'mlflow.db'}"  # relative to castlm.toml's folder
    client = mlflow.MlflowClient(store)
    experiment = client.get_experiment_by_name("triage")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert any(run.info.run_id in note for note in outcome.notes)
    params, metrics = run.data.params, run.data.metrics
    assert params["optimizer"] == "random_search" and params["lm"] == "standin"
    assert params["optimizer_options.num_candidate_programs"] == "2"
    assert metrics["score.baseline"] == pytest.approx(outcome.baseline)
    assert metrics["score.compiled"] == pytest.approx(outcome.compiled)
    assert metrics["lm_calls"] == outcome.lm_calls
    assert metrics["plan.lm_calls"] == outcome.plan.calls if outcome.plan else False
    for phase in outcome.phases:
        assert metrics[f"phase.{phase.name}.lm_calls"] == phase.calls
    history = client.get_metric_history(run.info.run_id, "trial.score")
    trials = json.loads(Path(client.download_artifacts(run.info.run_id, "trials.json")).read_text())
    assert len(history) == len(trials) >= 2
    assert [m.step for m in sorted(history, key=lambda m: m.step)] == list(range(len(trials)))
    assert {t["step"]: t["score"] for t in trials} == {m.step: m.value for m in history}

    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"report.md", "report.svg", "plan.json", "compile.json", "package"} <= names
    package = Path(client.download_artifacts(run.info.run_id, "package", str(tmp_path / "dl")))
    assert (package / "reviewer" / "__init__.py").is_file()
    store_files = [root / "mlflow.db", *(root / "mlruns").rglob("*")]  # the db, the artifacts
    everything = [p.read_bytes() for p in store_files if p.is_file()]
    assert len(everything) > 50
    assert not any(SECRET.encode() in blob for blob in everything)

    monkeypatch.setenv("CASTLM_MODEL", "standin")
    before = mlflow.get_tracking_uri()
    assert before != store  # logging the model left MLflow's global tracking URI as it was
    mlflow.set_tracking_uri(store)
    try:
        model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/program")
    finally:
        mlflow.set_tracking_uri(before)
    rows = [{"review": "I love it, works great"}, {"review": "broke after a day"}]
    predicted = model.predict(rows)
    assert [set(p) for p in predicted] == [{"review", "label"}] * 2
    assert all(p["label"] in ("positive", "negative", "mixed") for p in predicted)
