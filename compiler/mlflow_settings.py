"""The ``mlflow`` setting: where a compile is logged as an MLflow run.

In a config file it is ``mlflow = true`` or a table (``[mlflow]`` in castlm.toml,
``[tool.castlm.mlflow]`` in pyproject.toml)::

    [mlflow]
    tracking_uri = "sqlite:///mlflow.db"   # default: $MLFLOW_TRACKING_URI, else MLflow's own
    experiment = "triage"                  # default: "castlm"
    run_name = "nightly"                   # default: MLflow's generated name
    log_model = true                       # also log the package as a pyfunc model
    artifact_location = "mlartifacts"      # for an experiment castlm creates (see below)
    tags = { team = "support" }

``castlm compile --mlflow [URI]`` switches it on (and sets the tracking URI, which wins over
the file's). A relative ``sqlite:///`` or file-store path is relative to the config file's folder
(the working directory for the flag), and so is ``artifact_location``. MLflow would put a new
experiment's artifacts in ``./mlruns`` under whatever the working directory is; castlm puts
them in ``mlruns`` next to a SQLite database instead, unless ``artifact_location`` says where.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import CompileError

_KEYS = {
    "tracking_uri": str,
    "experiment": str,
    "run_name": str,
    "log_model": bool,
    "tags": dict,
    "artifact_location": str,
}


@dataclass(frozen=True)
class MlflowSettings:
    """Validated ``mlflow`` settings (see the module docstring)."""

    tracking_uri: str | None = None
    #: None: ``$MLFLOW_EXPERIMENT_NAME``, else ``castlm``.
    experiment: str | None = None
    run_name: str | None = None
    log_model: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)
    #: None: MLflow's default, except ``mlruns`` next to a SQLite store.
    artifact_location: str | None = None

    def artifact_root(self) -> str | None:
        """Where a new experiment keeps its artifacts (None: MLflow decides)."""
        if self.artifact_location:
            return self.artifact_location
        uri = self.tracking_uri or ""
        if uri.startswith("sqlite:////"):
            return (Path(uri[len("sqlite:///") :]).parent / "mlruns").as_uri()
        return None


def mlflow_settings(value: Any, *, base: Path, origin: str) -> MlflowSettings | None:
    """``value`` (``true``/``false`` or a table) checked; None when logging is off."""
    if value is False or value is None:
        return None
    table: Mapping[str, Any] = {} if value is True else value
    for key, item in table.items():
        expected = _KEYS.get(key)
        if expected is None:
            raise CompileError(
                f"unknown mlflow setting {key!r}; known: {', '.join(_KEYS)}", path=origin
            )
        if not isinstance(item, expected):
            raise CompileError(
                f"mlflow.{key} must be {expected.__name__}, got {item!r}", path=origin
            )
    tags = table.get("tags") or {}
    if not all(isinstance(v, str | int | float) for v in tags.values()):
        raise CompileError("mlflow.tags values must be strings or numbers", path=origin)
    uri = table.get("tracking_uri")
    return MlflowSettings(
        tracking_uri=anchored(uri, base) if uri else None,
        experiment=table.get("experiment") or None,
        run_name=table.get("run_name") or None,
        log_model=bool(table.get("log_model", False)),
        tags={str(k): str(v) for k, v in tags.items()},
        artifact_location=anchored(location, base)
        if (location := table.get("artifact_location"))
        else None,
    )


def anchored(uri: str, base: Path) -> str:
    """A relative local store (``sqlite:///x.db``, ``file:x``, ``x``) made relative to
    ``base`` (the config file's folder, or the working directory for the flag)."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return f"sqlite:///{(base / uri[len('sqlite:///') :]).resolve()}"
    if uri.startswith("file:") and not uri.startswith("file:/"):
        return (base / uri[len("file:") :]).resolve().as_uri()
    if ":" not in uri and not uri.startswith("/"):
        return (base / uri).resolve().as_uri()
    return uri
