"""The benchmark's tasks: where their data is, how they are scored, and their LM budgets.

Standard library only: both children (castlm's in the project venv, DSPy's in its own venv)
import this module, so the two systems are scored by the same code on the same rows.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

QUALITY_DIR = Path(__file__).resolve().parent
ROOT = QUALITY_DIR.parents[1]

Row = dict[str, Any]
Scorer = Callable[[Mapping[str, Any], Mapping[str, Any]], float]


@dataclass(frozen=True)
class Task:
    """One benchmark task: a castlm program (and its DSPy twin in dspy_child.py) with data."""

    name: str
    folder: Path
    program: str  # "program.py:Class" inside folder
    metric: str  # "program.py:function" inside folder (castlm's compile metric)
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    score: Scorer
    #: Sampling settings both systems use.
    max_tokens: int
    train_rows: int
    dev_rows: int

    def rows(self, split: str) -> list[Row]:
        path = self.folder / "data" / f"{split}.jsonl"
        with path.open(encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle if line.strip()]
        limit = self.train_rows if split == "train" else self.dev_rows
        return rows[:limit]


def child_args() -> argparse.Namespace:
    """The command line both children take from run.py."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", required=True, choices=sorted(TASKS))
    parser.add_argument("--optimizer", required=True, choices=sorted(OPTIMIZERS))
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--workdir", required=True, type=Path)
    return parser.parse_args()


def summary(scores: list[float], parse_failures: int, errors: int) -> dict[str, Any]:
    """One system's dev result, in the form both children print."""
    return {
        "dev_score": sum(scores) / len(scores),
        "parse_failures": parse_failures,
        "errors": errors,
        "dev_rows": len(scores),
    }


def _same_text(a: object, b: object) -> bool:
    return " ".join(str(a).lower().split()) == " ".join(str(b).lower().split())


def _topic(expected: Mapping[str, Any], got: Mapping[str, Any]) -> float:
    return float(got.get("topic") == expected["topic"])


def _contact(expected: Mapping[str, Any], got: Mapping[str, Any]) -> float:
    hits = [
        _same_text(got.get("name", ""), expected["name"]),
        got.get("age") == expected["age"],
        _same_text(got.get("city", ""), expected["city"]),
        got.get("callback") == expected["callback"],
    ]
    return sum(hits) / len(hits)


_TRIAGE_WEIGHTS = {"category": 0.5, "urgent": 0.2, "product": 0.2, "plan": 0.1}


def _triage(expected: Mapping[str, Any], got: Mapping[str, Any]) -> float:
    customer = got.get("customer") or {}
    if not isinstance(customer, Mapping):
        customer = {}
    hits = {
        "category": got.get("category") == expected["category"],
        "urgent": got.get("urgent") == expected["urgent"],
        "plan": customer.get("plan") == expected["customer"]["plan"],
        "product": _same_text(customer.get("product", ""), expected["customer"]["product"]),
    }
    return sum(_TRIAGE_WEIGHTS[name] for name, hit in hits.items() if hit)


TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task(
            name="news",
            folder=QUALITY_DIR / "tasks" / "news",
            program="program.py:NewsClassifier",
            metric="program.py:accuracy",
            inputs=("headline",),
            outputs=("topic",),
            score=_topic,
            max_tokens=48,
            train_rows=30,
            dev_rows=40,
        ),
        Task(
            name="contacts",
            folder=QUALITY_DIR / "tasks" / "contacts",
            program="program.py:ContactExtractor",
            metric="program.py:field_accuracy",
            inputs=("message",),
            outputs=("name", "age", "city", "callback"),
            score=_contact,
            max_tokens=96,
            train_rows=30,
            dev_rows=30,
        ),
        Task(
            name="triage",
            folder=ROOT / "examples" / "triage",
            program="program.py:TriageBot",
            metric="program.py:triage_score",
            inputs=("ticket",),
            outputs=("category", "urgent", "customer"),
            score=_triage,
            max_tokens=384,
            train_rows=24,
            dev_rows=16,
        ),
    )
}

#: Optimizer settings, the same on both sides (castlm option names; dspy_child.py maps them).
OPTIMIZERS: dict[str, dict[str, Any]] = {
    "zero-shot": {},
    "labeled": {"k": 8},
    "bootstrap": {"max_bootstrapped_demos": 4, "max_labeled_demos": 8},
    "random_search": {
        "num_candidate_programs": 4,
        "max_bootstrapped_demos": 4,
        "max_labeled_demos": 8,
    },
    "mipro": {"auto": "light", "max_bootstrapped_demos": 4, "max_labeled_demos": 4},
}
