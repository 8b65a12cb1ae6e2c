"""Verification as the pipeline and ``castlm verify`` use it.

A compile writes ``castlm-verify.json`` beside the package: the dev inputs with the
predictions and exact prompts of the in-process run. Verification replays those inputs
through the emitted package (mypy-checked, imported where castlm is not importable) and
requires the same predictions, the same prompt bytes and, at compile time, the same score.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from castlm import Example
from pydantic import TypeAdapter

from .errors import VerifyError
from .verify import ExpectedCall, PromptRecord, VerifyReport, verify_package

VERIFY_FILE = "castlm-verify.json"


def verify_data(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """The contents of castlm-verify.json."""
    return json.dumps({"version": 1, "rows": list(rows)}, ensure_ascii=False, indent=1).encode()


def _load(out: Path) -> tuple[list[dict[str, Any]], list[ExpectedCall]]:
    path = out / VERIFY_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        rows: list[dict[str, Any]] = data["rows"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise VerifyError(
            f"cannot read the verification data ({exc}); recompile with `castlm compile --force`",
            path=path,
        ) from exc
    expected = [
        ExpectedCall(
            prediction=row.get("prediction"),
            prompts=tuple(
                PromptRecord(p["predictor"], tuple(p["messages"])) for p in row.get("prompts", [])
            ),
            error=row.get("error"),
        )
        for row in rows
    ]
    return [dict(row["inputs"]) for row in rows], expected


def run(
    out: Path, package: str, lm_name: str, cache_dir: Path | None, base_url: str | None
) -> VerifyReport:
    inputs, expected = _load(out)
    env = {"CASTLM_BASE_URL": base_url} if base_url else None
    report = verify_package(
        out,
        package,
        dev_inputs=inputs,
        expected=expected,
        lm_name=lm_name,
        cache_dir=cache_dir,
        env=env,
    )
    if not report.ok:
        raise VerifyError(_describe(report), path=out)
    return report


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
    """`castlm verify DIR`: check a package folder written by `castlm compile`."""
    manifest_paths = sorted(out.glob("*/manifest.json"))
    if not manifest_paths:
        raise VerifyError(
            "no package here (no */manifest.json); pass the compile's --out folder", path=out
        )
    manifest = json.loads(manifest_paths[0].read_text(encoding="utf-8"))
    package = manifest_paths[0].parent.name
    return run(out, package, lm_name or manifest["lm"], find_cache_dir(out), None)
