"""Log a compile as an MLflow run (``castlm compile --mlflow`` or the ``mlflow`` setting).

The run is created before the first LM call, right after the tracking store has been reached,
so an unreachable store fails the compile early at the flag or config line that named it. The
run gets the settings (params; secrets left out), the plan, the LM use and cost per phase, every
optimizer trial's score as the steps of one ``trial.score`` metric (their parameters in
``trials.json``), the baseline, compiled and split scores, and the report and emitted package as
artifacts; with ``log_model`` also the package as a pyfunc model (compiler/mlflow_model.py).

Trials are metric steps, not child runs: an optimizer may score a hundred candidates, each
child run costs several round trips to the store, and one stepped metric is what MLflow
charts as a curve. Once the run exists, nothing MLflow does can fail the compile: a logging
error becomes a warning and the package is written as usual. mlflow is imported only here and
only when asked for.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from .compile_report import REPORT_FILES
from .config import ProgramConfig
from .mlflow_params import compile_params, outcome_metrics, plan_metrics, trials_data
from .optimizers import Trial
from .optimizers.mipro.settings import redact
from .outcome import CompileOutcome
from .plan import Plan
from .preflight import MLFLOW_MISSING, at_setting

_BATCH_PARAMS, _BATCH_METRICS = 100, 1000  # MLflow's log_batch limits
# The reachability check must fail in seconds, not after MLflow's default retries (minutes).
_CHECK_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


def import_mlflow(config: ProgramConfig) -> Any:
    try:
        return importlib.import_module("mlflow")
    except ImportError:
        raise at_setting(config, "mlflow", MLFLOW_MISSING) from None


class NoTracking:
    """What a compile without the ``mlflow`` setting uses: nothing is logged."""

    def on_plan(self, then: Callable[[Plan], None] | None) -> Callable[[Plan], None] | None:
        return then

    def finish(self, outcome: CompileOutcome, trials: Sequence[Trial]) -> CompileOutcome:
        return outcome


class MlflowTracking:
    """One compile's MLflow run."""

    def __init__(self, config: ProgramConfig, client: Any, run_id: str, uri: str) -> None:
        self.config = config
        self.client = client
        self.run_id = run_id
        self.uri = uri
        self.warnings: list[str] = []

    def on_plan(self, then: Callable[[Plan], None] | None) -> Callable[[Plan], None]:
        def log_plan(plan: Plan) -> None:
            self._safely("the plan", lambda: self._log_plan(plan))
            if then is not None:
                then(plan)

        return log_plan

    def finish(self, outcome: CompileOutcome, trials: Sequence[Trial]) -> CompileOutcome:
        self._safely("the results", lambda: self._log_outcome(outcome, trials))
        if self.config.mlflow is not None and self.config.mlflow.log_model:
            self._safely("the pyfunc model", self._log_model)
        self._safely("the run's end", lambda: self.client.set_terminated(self.run_id))
        note = f"mlflow: logged run {self.run_id} to {redact(self.uri)}"
        return replace(
            outcome,
            notes=(*outcome.notes, note),
            warnings=(*outcome.warnings, *self.warnings),
        )

    def begin(self) -> None:
        self._safely("the settings", lambda: self._batch(params=compile_params(self.config)))

    def failed(self, interrupted: bool) -> None:
        status = "KILLED" if interrupted else "FAILED"
        with contextlib.suppress(Exception):  # the compile's own error is the one to report
            self.client.set_terminated(self.run_id, status=status)

    def _log_plan(self, plan: Plan) -> None:
        self.client.log_dict(self.run_id, plan.to_json(), "plan.json")
        self._batch(metrics=plan_metrics(plan))

    def _log_outcome(self, outcome: CompileOutcome, trials: Sequence[Trial]) -> None:
        metrics = outcome_metrics(outcome)
        metrics += [("trial.score", t.score, step) for step, t in enumerate(trials)]
        self._batch(metrics=metrics)
        self.client.log_dict(self.run_id, trials_data(trials), "trials.json")
        self.client.log_dict(self.run_id, outcome.to_json(), "compile.json")
        out = self.config.out
        for name in REPORT_FILES:
            if (out / name).is_file():
                self.client.log_artifact(self.run_id, str(out / name))
        self.client.log_artifacts(self.run_id, str(out), "package")

    def _log_model(self) -> None:
        from .mlflow_model import log_model

        log_model(self.config.out, run_id=self.run_id, tracking_uri=self.uri)

    def _batch(
        self,
        params: Sequence[tuple[str, str]] = (),
        metrics: Sequence[tuple[str, float, int]] = (),
    ) -> None:
        entities = importlib.import_module("mlflow.entities")
        now = int(time.time() * 1000)
        for i in range(0, len(params), _BATCH_PARAMS):
            chunk = [entities.Param(k, v) for k, v in params[i : i + _BATCH_PARAMS]]
            self.client.log_batch(self.run_id, params=chunk)
        for i in range(0, len(metrics), _BATCH_METRICS):
            chunk = [
                entities.Metric(k, float(v), now, step)
                for k, v, step in metrics[i : i + _BATCH_METRICS]
            ]
            self.client.log_batch(self.run_id, metrics=chunk)

    def _safely(self, what: str, log: Callable[[], None]) -> None:
        try:
            log()
        except Exception as exc:
            self.warnings.append(
                f"MLflow: logging {what} to {redact(self.uri)} failed "
                f"({type(exc).__name__}: {_short(exc, self.uri)}); the compile went on"
            )


@contextlib.contextmanager
def compile_tracking(config: ProgramConfig) -> Iterator[NoTracking | MlflowTracking]:
    """The compile's MLflow run (a no-op without the ``mlflow`` setting); marked FAILED when
    the compile raises."""
    if config.mlflow is None:
        yield NoTracking()
        return
    tracking = start_run(config)
    try:
        yield tracking
    except BaseException as exc:
        tracking.failed(interrupted=isinstance(exc, KeyboardInterrupt))
        raise


def start_run(config: ProgramConfig) -> MlflowTracking:
    """Reach the tracking store (failing at the setting that named it), create the run and
    log the settings."""
    settings = config.mlflow
    assert settings is not None
    mlflow = import_mlflow(config)
    uri = settings.tracking_uri or mlflow.get_tracking_uri()
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = settings.experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or "castlm"
    try:
        with _environ(_CHECK_ENV):
            found = client.get_experiment_by_name(experiment)
            experiment_id = (
                found.experiment_id
                if found
                else client.create_experiment(experiment, settings.artifact_root())
            )
            tags = {"castlm.program": str(config.program.name), **settings.tags}
            run = client.create_run(experiment_id, run_name=settings.run_name, tags=tags)
    except Exception as exc:
        raise at_setting(
            config,
            "mlflow",
            f"cannot reach the MLflow tracking store {redact(uri)} ({type(exc).__name__}: "
            f"{_short(exc, uri)}); nothing was spent. Start the server, fix the tracking_uri, "
            f"or drop --mlflow / the mlflow setting",
        ) from None
    tracking = MlflowTracking(config, client, run.info.run_id, uri)
    tracking.begin()
    return tracking


@contextlib.contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    # MLflow reads its HTTP settings from the environment on each request; the compile has
    # started no thread yet, so nothing else sees the change.
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _short(exc: BaseException, uri: str) -> str:
    """The first line of ``exc``, cut short, with the URI's password (if any) hidden."""
    text = (str(exc).strip().splitlines() or [""])[0][:300]
    with contextlib.suppress(ValueError):
        password = urlsplit(uri).password
        if password:
            text = text.replace(password, "***")
    return text
