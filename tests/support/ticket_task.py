"""A small synthetic ticket-routing task for the MIPROv2 and GEPA tests.

Every ticket names its problem with a keyword of its queue ("refund" → billing, "parcel" →
shipping, ...) inside filler shared by all queues. The stand-in model cannot tell the
queues apart zero-shot (no ticket says "billing"), copies the most similar demo when it has
demos (the shared filler often misleads it), and follows keyword rules exactly once an
instruction states them. So demos help and grounded instructions help more.

The program is written to a folder as source (``write_project``), because ``castlm
compile`` analyses the file; tests that use the Python API load that same file.
"""

from __future__ import annotations

import importlib.util
import json
import random
import sys
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

from castlm import Example

KEYWORDS = {
    "billing": ["refund", "invoice"],
    "shipping": ["parcel", "courier"],
    "account": ["password", "username"],
    "technical": ["crash", "error"],
}
FILLER = [
    "I ordered the blue kettle last week",
    "my phone shows the order page",
    "please look at my order today",
    "the website on my laptop shows this",
    "I tried again this morning",
    "this happened after the update on my phone",
    "thanks for looking into my order",
    "the kettle order from last week",
]
PROBLEMS = [
    "there is a problem with the {kw}",
    "I have a question about the {kw}",
    "the {kw} is not right",
    "something odd with my {kw}",
]

PROGRAM = '''\
"""Route a support ticket to a queue (a synthetic task for castlm's optimizer tests)."""

from __future__ import annotations

import os
import signal
import time
from typing import Literal

import castlm as cl


class Route(cl.Signature):
    """Route the support ticket to the queue that handles it."""

    ticket: str = cl.InputField(desc="the customer's message")
    queue: Literal["billing", "shipping", "account", "technical"] = cl.OutputField()


class Router(cl.Module):
    """Reads a ticket and routes it to a queue."""

    def __init__(self) -> None:
        self.route = cl.Predict(Route)

    def forward(self, ticket: str) -> Route:
        return self.route(ticket=ticket)


class Urgency(cl.Signature):
    """Say whether the support ticket needs an answer today."""

    ticket: str = cl.InputField(desc="the customer's message")
    urgent: bool = cl.OutputField()


class Desk(cl.Module):
    """Routes a ticket and flags whether it is urgent: two predictors."""

    def __init__(self) -> None:
        self.route = cl.Predict(Route)
        self.flag = cl.Predict(Urgency)

    def forward(self, ticket: str) -> Route:
        self.flag(ticket=ticket)
        return self.route(ticket=ticket)


class DeskFeedback:
    """Score and per-predictor feedback for Desk, as GEPA's feedback metrics return them."""

    def __init__(self, score: float, feedback: dict[str, str]) -> None:
        self.score = score
        self.feedback = feedback


def desk_score(example: cl.Example, pred: Route, trace: object = None) -> DeskFeedback:
    urgent = next((s.outputs["urgent"] for s in trace or [] if "urgent" in s.outputs), None)
    route_ok = pred.queue == example["queue"]
    flag_ok = urgent == example["urgent"]
    return DeskFeedback(
        (route_ok + flag_ok) / 2,
        {
            "route": "Correct queue." if route_ok else f"Expected queue {example['queue']}.",
            "flag": "Correct flag." if flag_ok else f"Expected urgent={example['urgent']}.",
        },
    )


def accuracy(example: cl.Example, pred: Route, trace: object = None) -> float:
    _test_hooks()
    return float(pred.queue == example["queue"])


def accuracy_with_feedback(
    example: cl.Example, pred: Route, trace: object = None
) -> tuple[float, str]:
    right = pred.queue == example["queue"]
    if right:
        return 1.0, "Correct queue."
    return 0.0, f"Wrong queue: answered {pred.queue}, expected {example['queue']}."


def _test_hooks() -> None:
    """Environment-driven hooks the tests use to watch and interrupt a compile."""
    marker = os.environ.get("TICKET_TASK_MARKER")
    if not marker:
        return
    with open(marker, "a", encoding="utf-8") as handle:
        handle.write("scored\\n")
    with open(marker, encoding="utf-8") as handle:
        scored = sum(1 for _ in handle)
    kill_after = int(os.environ.get("TICKET_TASK_KILL_AFTER", "0"))
    if kill_after and scored >= kill_after:
        os.kill(os.getpid(), signal.SIGKILL)  # a crash mid-compile, at a known point
    time.sleep(float(os.environ.get("TICKET_TASK_SLEEP", "0")))
'''


URGENT = ["I need this fixed today", "it is urgent"]


def rows(n: int, seed: int, *, urgent: bool = False) -> list[dict[str, Any]]:
    """``n`` labelled tickets, balanced over the queues (and, with ``urgent``, an urgency
    flag: urgent tickets say so with one of two phrases)."""
    rng = random.Random(seed)
    queues = sorted(KEYWORDS)
    out = []
    for i in range(n):
        queue = queues[i % len(queues)]
        problem = rng.choice(PROBLEMS).format(kw=rng.choice(KEYWORDS[queue]))
        first, second = rng.sample(FILLER, 2)
        row: dict[str, Any] = {"ticket": f"{first}, {problem}; {second}.", "queue": queue}
        if urgent:
            row["urgent"] = rng.random() < 0.5
            if row["urgent"]:
                row["ticket"] = row["ticket"][:-1] + f", {rng.choice(URGENT)}."
        out.append(row)
    rng.shuffle(out)
    return out


def examples(n: int, seed: int, *, urgent: bool = False) -> list[Example]:
    return [Example(r).with_inputs("ticket") for r in rows(n, seed, urgent=urgent)]


def write_project(folder: Path, *, train: int = 40, dev: int = 24, **options: Any) -> Path:
    """A compile project: program.py, data/train.jsonl, data/dev.jsonl, castlm.toml."""
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "program.py").write_text(PROGRAM, encoding="utf-8")
    for name, count, seed in (("train", train, 1), ("dev", dev, 2)):
        lines = [json.dumps(r) for r in rows(count, seed)]
        (folder / "data" / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    toml = [
        'program = "program.py:Router"',
        'metric = "program.py:accuracy"',
        'train = "data/train.jsonl"',
        'dev = "data/dev.jsonl"',
        'lm = "standin"',
        "threads = 2",
        "verify = false",
        "",
        "[optimizer_options]",
        *(f"{key} = {json.dumps(value)}" for key, value in options.items()),
    ]
    (folder / "castlm.toml").write_text("\n".join(toml) + "\n", encoding="utf-8")
    return folder


def load_program(folder: Path) -> ModuleType:
    """Import ``folder/program.py`` under a unique module name."""
    name = f"ticket_task_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, folder / "program.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
