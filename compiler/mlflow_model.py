"""An emitted package as an MLflow pyfunc model.

``log_model(out)`` logs the package folder that ``castlm compile`` wrote (``out``) as a
"model from code": a small generated script that imports the package and calls its ``run``
for each input row, with the package's source as the model's code. Loading the model back
(``mlflow.pyfunc.load_model(uri)``) needs neither castlm nor the package installed, only the
package's own dependencies (pydantic, httpx, aiohttp), which are the model's requirements.
The LM comes from the serving environment, as for any emitted package: ``CASTLM_MODEL``,
``CASTLM_BASE_URL`` and ``CASTLM_API_KEY`` (never from the model's files).

``predict`` takes a pandas DataFrame (one row per call, a column per input field), a list of
dicts, or one dict, and returns a list of dicts (the output fields of each call).
"""

from __future__ import annotations

import importlib
import json
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from .errors import CompileError

_SCRIPT = '''"""MLflow pyfunc model of the castlm package {package!r} (written by castlm)."""

import importlib

import mlflow
from mlflow.pyfunc import PythonModel

PACKAGE = {package!r}


class CastlmProgram(PythonModel):
    def load_context(self, context):
        self._package = importlib.import_module(PACKAGE)

    def predict(self, context, model_input, params=None):
        return [_as_dict(self._package.run(**row)) for row in _rows(model_input)]


def _rows(model_input):
    if hasattr(model_input, "to_dict"):  # a pandas DataFrame
        return model_input.to_dict(orient="records")
    if isinstance(model_input, dict):
        return [model_input]
    return list(model_input)


def _as_dict(result):
    if hasattr(result, "model_dump"):
        return result.model_dump(mode="json")
    return {{"output": result}}


mlflow.models.set_model(CastlmProgram())
'''


def log_model(
    out: str | Path,
    *,
    name: str = "program",
    run_id: str | None = None,
    tracking_uri: str | None = None,
) -> Any:
    """Log the package in ``out`` (the folder ``castlm compile`` wrote) as a pyfunc model in
    run ``run_id`` (default: MLflow's active run, or a new one); returns MLflow's ModelInfo,
    whose ``model_uri`` loads it back."""
    mlflow = importlib.import_module("mlflow")
    folder = Path(out)
    package, requirements = _package_of(folder)
    previous = mlflow.get_tracking_uri()
    if tracking_uri is not None:
        mlflow.set_tracking_uri(tracking_uri)
    try:
        return _log(mlflow, folder, package, requirements, name, run_id)
    finally:
        mlflow.set_tracking_uri(previous)  # the caller's MLflow setup is left as it was


def _log(
    mlflow: Any,
    folder: Path,
    package: str,
    requirements: list[str],
    name: str,
    run_id: str | None,
) -> Any:
    with tempfile.TemporaryDirectory(prefix="castlm-pyfunc-") as scratch:
        script = Path(scratch) / f"{package}_pyfunc.py"
        script.write_text(_SCRIPT.format(package=package), encoding="utf-8")
        active = mlflow.active_run()
        runs = mlflow.start_run(run_id=run_id) if run_id or active is None else _still(active)
        with runs:
            return mlflow.pyfunc.log_model(
                name=name,
                python_model=str(script),
                code_paths=[str(folder / package)],
                pip_requirements=requirements,
            )


def _package_of(folder: Path) -> tuple[str, list[str]]:
    """The package's import name (from its manifest) and its pip requirements."""
    manifests = sorted(folder.glob("*/manifest.json"))
    try:
        package = str(json.loads(manifests[0].read_text(encoding="utf-8"))["package"])
        project = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))
    except (IndexError, OSError, ValueError, KeyError, TypeError):
        raise CompileError(
            "not a folder written by `castlm compile` (it has no <package>/manifest.json and "
            "pyproject.toml); pass the compile's --out folder",
            path=folder,
        ) from None
    dependencies = project.get("project", {}).get("dependencies", [])
    return package, [str(d) for d in dependencies]


class _still:
    """The already active run as a context manager that leaves it open."""

    def __init__(self, run: Any) -> None:
        self.run = run

    def __enter__(self) -> Any:
        return self.run

    def __exit__(self, *exc: object) -> None:
        return None
