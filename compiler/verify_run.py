"""Verification as the pipeline and ``castlm verify`` use it.

A compile writes ``castlm-verify.json`` beside the package: the dev inputs with the
predictions and exact prompts of the in-process run. Verification replays those inputs
through the emitted package (mypy-checked, imported where castlm is not importable) and
requires the same predictions, the same prompt bytes and, at compile time, the same score.
Runs that the endpoint failed at compile time are left out (see :func:`run`), so a
transient endpoint error never makes verification fail.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from castlm import Example
from pydantic import TypeAdapter

from .errors import VerifyError
from .verify import ExpectedCall, PromptRecord, VerifyReport, verify_package
from .verify_files import check_hashes

VERIFY_FILE = "castlm-verify.json"


def verify_data(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """The contents of castlm-verify.json: ASCII JSON, since a program's outputs may hold
    lone surrogates, which UTF-8 cannot encode."""
    data = {"version": 1, "rows": list(rows)}
    return json.dumps(data, ensure_ascii=True, indent=1).encode("ascii")


@dataclass(frozen=True)
class _Rows:
    """The rows of castlm-verify.json that are replayed, and where each sits in the dev set."""

    recorded: list[Any]  # every row's in-process prediction
    indexes: list[int]
    inputs: list[dict[str, Any]]
    expected: list[ExpectedCall]


def _load(out: Path) -> _Rows:
    path = out / VERIFY_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        rows: list[dict[str, Any]] = data["rows"]
        replayed = [i for i, row in enumerate(rows) if row.get("replay", True)]
        inputs = [dict(rows[i]["inputs"]) for i in replayed]
        recorded = [row.get("prediction") for row in rows]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise VerifyError(
            f"cannot read the verification data ({exc}); recompile with `castlm compile --force`",
            path=path,
        ) from exc
    expected = [
        ExpectedCall(
            prediction=rows[i].get("prediction"),
            prompts=tuple(
                PromptRecord(p["predictor"], tuple(p["messages"]))
                for p in rows[i].get("prompts", [])
            ),
            error=rows[i].get("error"),
        )
        for i in replayed
    ]
    return _Rows(recorded, replayed, inputs, expected)


def run(
    out: Path,
    package: str,
    lm_name: str,
    cache_dir: Path | None,
    base_url: str | None,
    *,
    where: Path | None = None,
) -> VerifyReport:
    """Verify the package in ``out``; errors name ``where`` (default ``out``).

    Rows whose compile-time run saw an LM call fail at the endpoint (``"replay": false``)
    are not replayed: that failure was not cached, so a replay would call the LM again and
    might go another way. Their prediction is the recorded in-process one (None when the
    run failed), so re-scoring gives the compiled score for them.
    """
    rows = _load(out)
    env = {"CASTLM_BASE_URL": base_url} if base_url else None
    report = verify_package(
        out,
        package,
        dev_inputs=rows.inputs,
        expected=rows.expected,
        lm_name=lm_name,
        cache_dir=cache_dir,
        env=env,
    )
    ordered = _in_dev_order(report, rows)
    if not ordered.ok:
        raise VerifyError(_describe(ordered), path=where or out)
    return ordered


def _in_dev_order(report: VerifyReport, rows: _Rows) -> VerifyReport:
    """The report with one prediction per dev row and mismatches numbered by dev row."""
    predictions = list(rows.recorded)
    for position, prediction in enumerate(report.predictions):
        predictions[rows.indexes[position]] = prediction
    mismatches = tuple(replace(m, example=rows.indexes[m.example]) for m in report.mismatches)
    return replace(report, predictions=tuple(predictions), mismatches=mismatches)


def _describe(report: VerifyReport) -> str:
    lines = ["the emitted package failed verification:"]
    lines += [f"  mypy: {e}" for e in report.mypy_errors[:10]]
    lines += [f"  pyright: {e}" for e in (report.pyright_errors or ())[:10]]
    if report.import_error:
        lines.append(f"  import without castlm: {report.import_error}")
    lines += [f"  parity: {m}" for m in report.mismatches[:10]]
    return "\n".join(lines)


def rescore(
    report: VerifyReport,
    dev: Sequence[Example],
    returns: Any,
    score: Callable[[Example, Any], float],
    compiled_score: float,
    where: Path,
) -> None:
    """Score the package's predictions with the metric; they must give the compiled score."""
    adapter: TypeAdapter[Any] | None = None if returns is Any else TypeAdapter(returns)
    total = 0.0
    for example, prediction in zip(dev, report.predictions, strict=True):
        if prediction is None:
            continue
        value = adapter.validate_python(prediction) if adapter is not None else prediction
        total += score(example, value)
    replayed = 100.0 * total / len(dev) if dev else 0.0
    if not math.isclose(replayed, compiled_score, abs_tol=1e-6):
        raise VerifyError(
            f"the emitted package scores {replayed:.2f} on the dev set, but the compiled program "
            f"scored {compiled_score:.2f}",
            path=where,
        )


def find_cache_dir(out: Path) -> Path | None:
    """The project's .castlm folder: the nearest one above the output folder."""
    for folder in (out.resolve(), *out.resolve().parents):
        if (folder / ".castlm" / "cache.sqlite").is_file():
            return folder / ".castlm"
    return None


def verify_folder(out: Path, *, lm_name: str | None = None) -> VerifyReport:
    """`castlm verify DIR`: check a package folder written by `castlm compile`: every file's
    hash against the manifest, then the replay (see verify_files.py and :func:`run`)."""
    manifest_paths = sorted(out.glob("*/manifest.json"))
    if not manifest_paths:
        raise VerifyError(
            "no package here (no */manifest.json); pass the compile's --out folder", path=out
        )
    try:
        manifest = json.loads(manifest_paths[0].read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise VerifyError(f"cannot read the manifest ({exc})", path=manifest_paths[0]) from exc
    check_hashes(out, manifest_paths[0], manifest)
    package = manifest_paths[0].parent.name
    return run(out, package, lm_name or manifest["lm"], find_cache_dir(out), None)
