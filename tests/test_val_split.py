"""The validation split: optimizers choose on ``val`` / ``val_fraction`` rows kept apart from
train and dev, and the outcome, manifest and report give train, val and dev scores."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from castlm import Example, Module
from castlm.compiler.cli import EXIT_OK, EXIT_USER, main
from castlm.compiler.optimizers.base import OptimizeContext, OptimizeResult
from castlm.compiler.optimizers.bootstrap import BootstrapFewShot
from support.project import rows, write_jsonl, write_project


def compile_json(capsys: pytest.CaptureFixture[str], root: Path, *flags: str) -> dict[str, Any]:
    code = main(["compile", str(root), "--no-verify", "--json", *flags])
    captured = capsys.readouterr()
    assert code == EXIT_OK, captured.err
    data: dict[str, Any] = json.loads(captured.out)
    return data


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[Example], list[Example]]]:
    """The trainset and valset every bootstrap compile was given."""
    calls: list[tuple[list[Example], list[Example]]] = []
    original = BootstrapFewShot.compile

    def spy(
        self: BootstrapFewShot,
        student: Module,
        *,
        trainset: Sequence[Example],
        valset: Sequence[Example],
        ctx: OptimizeContext,
    ) -> OptimizeResult:
        calls.append((list(trainset), list(valset)))
        return original(self, student, trainset=trainset, valset=valset, ctx=ctx)

    monkeypatch.setattr(BootstrapFewShot, "compile", spy)
    return calls


def test_val_fraction_keeps_validation_apart_and_reports_every_split(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    seen: list[tuple[list[Example], list[Example]]],
) -> None:
    root = write_project(tmp_path / "p", n_train=20, n_dev=6)
    data = compile_json(capsys, root, "--val-fraction", "0.25")
    ((train, val),) = seen
    assert (len(train), len(val)) == (15, 5) == (data["train_size"], data["val_size"])
    keys = {json.dumps(e.to_dict(), sort_keys=True) for e in train}
    assert not keys & {json.dumps(e.to_dict(), sort_keys=True) for e in val}
    assert {"baseline", "compiled", "train", "val"} <= set(data["scores"])
    manifest = json.loads((root / "build/reviewer/reviewer/manifest.json").read_text())
    assert manifest["scores"]["validation"] == "val"
    assert {"train", "val"} <= set(manifest["scores"])
    report = (root / "build/reviewer/report.md").read_text()
    assert "compiled on train / val:" in report
    # the plan counts the extra scoring runs in the compiled phase
    compiled = next(p for p in data["plan"]["phases"] if p["name"] == "compiled")
    assert compiled["calls"] >= 6 + 15 + 5


def test_a_val_file_is_the_validation_set(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    seen: list[tuple[list[Example], list[Example]]],
) -> None:
    root = write_project(tmp_path / "p", n_train=12, n_dev=4)
    write_jsonl(root / "data" / "val.jsonl", rows(5, offset=500))
    data = compile_json(capsys, root, "--val", str(root / "data" / "val.jsonl"))
    ((train, val),) = seen
    assert (len(train), len(val), data["val_size"]) == (12, 5, 5)


def test_without_a_split_the_optimizer_validates_on_train_and_says_so(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    seen: list[tuple[list[Example], list[Example]]],
) -> None:
    root = write_project(tmp_path / "p")
    data = compile_json(capsys, root)
    ((train, val),) = seen
    assert train == val and data["val_size"] == 0
    assert set(data["scores"]) == {"baseline", "compiled"}
    assert "validation: the training set" in (root / "build/reviewer/report.md").read_text()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('val = "data/train.jsonl"\nval_fraction = 0.2\n', "not both"),
        ("val_fraction = 1.5\n", "val_fraction must be between 0 and 1"),
    ],
)
def test_bad_val_settings_are_errors_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: str, message: str
) -> None:
    root = write_project(tmp_path / "p", extra=extra)
    assert main(["compile", str(root), "--no-verify"]) == EXIT_USER
    err = capsys.readouterr().err
    assert message in err and "castlm.toml" in err
