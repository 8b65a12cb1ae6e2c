"""An image program through ``castlm compile``: image paths in the datasets, image demos
chosen by the optimizer, frozen into the package, and the package verified (castlm-free
import, mypy --strict, dev-set parity of predictions and prompt bytes)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from castlm.compiler import compile
from castlm.testing import ScriptedLM
from test_emit_support import imported
from test_image import png

PROGRAM = '''\
"""Name the shade of a grey square."""

from __future__ import annotations

from typing import Literal

import castlm as cl


class Shade(cl.Signature):
    """Say whether the square in the photo is dark or light."""

    photo: cl.Image = cl.InputField()
    shade: Literal["dark", "light"] = cl.OutputField()


class Shader(cl.Module):
    def __init__(self) -> None:
        self.shade = cl.Predict(Shade)

    def forward(self, photo: cl.Image) -> Shade:
        return self.shade(photo=photo)


def right(example: cl.Example, pred: Shade, trace: object = None) -> float:
    return float(pred.shade == example["shade"])
'''


def write_project(root: Path) -> None:
    (root / "data" / "img").mkdir(parents=True)
    (root / "program.py").write_text(PROGRAM, encoding="utf-8")
    for split, offset in (("train", 0), ("dev", 100)):
        rows = []
        for i in range(6):
            shade = (offset + i * 40) % 256
            name = f"img/{split}-{i}.png"
            (root / "data" / name).write_bytes(png(4, 4, shade))
            rows.append({"photo": name, "shade": "dark" if shade < 128 else "light"})
        lines = "".join(json.dumps(r) + "\n" for r in rows)
        (root / "data" / f"{split}.jsonl").write_text(lines, encoding="utf-8")


def test_an_image_program_compiles_to_a_verified_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CASTLM_MODEL", raising=False)
    outcome = compile(
        "program.py:Shader",
        train="data/train.jsonl",
        dev="data/dev.jsonl",
        metric="program.py:right",
        lm="standin",
        optimizer="labeled",
        options={"k": 2},
        out="build/shader",
    )
    assert outcome.verified and outcome.errors == 0
    frozen = (tmp_path / "build" / "shader" / "shader" / "_frozen.py").read_text()
    assert frozen.count('"data:image/png;base64,') == 2  # the two demos' photos
    manifest = json.loads((tmp_path / "build" / "shader" / "shader" / "manifest.json").read_text())
    assert manifest["adapters"] == {"shade": "chat"}  # the stand-in constrains no output
    report = (tmp_path / "build" / "shader" / "report.md").read_text()
    assert "base64" not in report
    with imported(tmp_path / "build" / "shader", "shader") as package:
        lm = ScriptedLM(["[[ ## shade ## ]]\ndark\n\n[[ ## completed ## ]]"])
        photo = package.Image.from_bytes(png(4, 4, 7))
        assert package.load(lm)(photo=photo).shade == "dark"
        parts = [m["content"] for m in lm.requests[0].messages if m["role"] == "user"]
    assert [p[1]["type"] for p in parts] == ["image_url"] * 3  # two demos, then the call
    assert parts[-1][1]["image_url"]["url"] == photo.url
    assert os.environ.get("CASTLM_MODEL") is None
