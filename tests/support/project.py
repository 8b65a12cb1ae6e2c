"""A tiny compile project on disk (program, metric, data, castlm.toml), for pipeline and CLI tests.

The program classifies reviews with one predictor; with the stand-in model it scores well
below 100 zero-shot, so optimizers have something to improve. ``slow_metric=True`` makes the
metric append a line to ``$CASTLM_TEST_MARKER`` and sleep a little for every scored example,
so a test can watch a compile's progress from outside and kill it mid-run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PROGRAM = '''\
"""Review sentiment, one predictor."""

from __future__ import annotations

import os
import time
from typing import Literal

import castlm as cl


class Sentiment(cl.Signature):
    """Classify the sentiment of a product review."""

    review: str = cl.InputField(desc="the customer's review")
    label: Literal["positive", "negative", "mixed"] = cl.OutputField()


class Reviewer(cl.Module):
    def __init__(self) -> None:
        self.classify = cl.Predict(Sentiment)

    def forward(self, review: str) -> Sentiment:
        return self.classify(review=review)


def accuracy(example: cl.Example, pred: Sentiment, trace: object = None) -> float:
    marker = os.environ.get("CASTLM_TEST_MARKER")
    if marker:
        with open(marker, "a", encoding="utf-8") as handle:
            handle.write("scored\\n")
        time.sleep(float(os.environ.get("CASTLM_TEST_SLEEP", "0.02")))
    return float(pred.label == example["label"])
'''

BROKEN_PROGRAM = '''\
import castlm as cl


class Ask(cl.Signature):
    """Answer."""

    question: str = cl.InputField()
    answer: str = cl.OutputField()


class Broken(cl.Module):
    def __init__(self) -> None:
        self.ask = cl.Predict(Ask)

    def forward(self, question: str) -> Ask:
        return self.ask(questoin=question)
'''

_GOOD = ["great", "love", "excellent", "works perfectly", "fast delivery", "recommend it"]
_BAD = ["broken", "refund", "terrible", "stopped working", "waste of money", "rude support"]
_THINGS = ["headphones", "kettle", "phone case", "lamp", "backpack", "blender", "keyboard"]


def rows(count: int, offset: int = 0) -> list[dict[str, Any]]:
    """Deterministic reviews: positive, negative and mixed ones in turn."""
    found = []
    for i in range(offset, offset + count):
        thing = _THINGS[i % len(_THINGS)]
        good, bad = _GOOD[i % len(_GOOD)], _BAD[(i * 5) % len(_BAD)]
        kind = ("positive", "negative", "mixed")[i % 3]
        text = {
            "positive": f"The {thing} is {good}, {i} stars from me.",
            "negative": f"My {thing} arrived {bad}; review number {i}.",
            "mixed": f"The {thing} looks {good} but it is {bad} after a week ({i}).",
        }[kind]
        found.append({"review": text, "label": kind})
    return found


def write_jsonl(path: Path, data: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in data), encoding="utf-8")
    return path


def write_project(
    root: Path,
    *,
    n_train: int = 18,
    n_dev: int = 6,
    optimizer: str = "bootstrap",
    options: dict[str, Any] | None = None,
    extra: str = "",
) -> Path:
    """A project folder with castlm.toml; returns the folder."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "program.py").write_text(PROGRAM, encoding="utf-8")
    write_jsonl(root / "data" / "train.jsonl", rows(n_train))
    write_jsonl(root / "data" / "dev.jsonl", rows(n_dev, offset=1000))
    option_lines = "".join(f"{k} = {json.dumps(v)}\n" for k, v in (options or {}).items())
    config = (
        'program = "program.py:Reviewer"\n'
        'metric = "program.py:accuracy"\n'
        'train = "data/train.jsonl"\n'
        'dev = "data/dev.jsonl"\n'
        f'optimizer = "{optimizer}"\n'
        'lm = "standin"\n'
        'out = "build/reviewer"\n'
        f"{extra}"
        f"\n[optimizer_options]\n{option_lines}"
    )
    (root / "castlm.toml").write_text(config, encoding="utf-8")
    return root
