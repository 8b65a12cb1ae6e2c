"""DSPy's side of one benchmark run: the same task, data, LM, settings and optimizer budget.

Runs in DSPy's own virtualenv (benchmarks/.venv-dspy). The programs below mirror the castlm
programs of the tasks field for field (same docstrings, names, types and descriptions). DSPy
uses its JSONAdapter with JSON mode, its best option on this server: its default ChatAdapter's
field markers are never written by a model this small, and it sends no schema to a model
litellm does not know. Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Literal

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dspy
from pydantic import BaseModel, Field
from suite import OPTIMIZERS, TASKS, Task, child_args, summary


class Topic(dspy.Signature):  # type: ignore[misc]
    """Classify a news headline into its section."""

    headline: str = dspy.InputField()
    topic: Literal["business", "sports", "science", "politics", "entertainment"] = (
        dspy.OutputField()
    )


class Contact(dspy.Signature):  # type: ignore[misc]
    """Extract the contact details from a message someone left."""

    message: str = dspy.InputField()
    name: str = dspy.OutputField(desc="the person's full name as written")
    age: int = dspy.OutputField(desc="their age in years, 0 if not given")
    city: str = dspy.OutputField(desc='the city they live in, "" if not given')
    callback: bool = dspy.OutputField(desc="true when they ask to be called back")


class CustomerInfo(BaseModel):
    """What the ticket tells us about the customer."""

    plan: Literal["free", "pro", "enterprise"] = Field(description="the subscription plan")
    product: str = Field(
        description='the product concerned: "mobile app", "web app", "desktop app" or "api"'
    )


class Triage(dspy.Signature):  # type: ignore[misc]
    """Triage a support ticket: pick its category, say whether it is urgent, and identify the
    customer's plan and the product the ticket is about."""

    ticket: str = dspy.InputField(desc="the customer's message")
    category: Literal["billing", "bug", "account", "feature_request", "other"] = dspy.OutputField()
    urgent: bool = dspy.OutputField(
        desc="true when the customer is blocked, losing data or money, or many users are hit"
    )
    customer: CustomerInfo = dspy.OutputField()


PROGRAMS: dict[str, tuple[type[Any], bool]] = {
    "news": (Topic, False),
    "contacts": (Contact, False),
    "triage": (Triage, True),  # ChainOfThought, like examples/triage
}


class Program(dspy.Module):  # type: ignore[misc]
    def __init__(self, signature: type[Any], chain_of_thought: bool) -> None:
        super().__init__()
        self.step = (dspy.ChainOfThought if chain_of_thought else dspy.Predict)(signature)

    def forward(self, **inputs: Any) -> Any:
        return self.step(**inputs)


def _plain(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    return dump(mode="json") if callable(dump) else value


def optimize(task: Task, optimizer: str, student: Any, train: list[Any], metric: Any) -> Any:
    settings = OPTIMIZERS[optimizer]
    if optimizer == "zero-shot":
        return student
    if optimizer == "labeled":
        return dspy.LabeledFewShot(k=settings["k"]).compile(student, trainset=train)
    if optimizer == "bootstrap":
        return dspy.BootstrapFewShot(metric=metric, **settings).compile(student, trainset=train)
    if optimizer == "random_search":
        search = dspy.BootstrapFewShotWithRandomSearch(metric=metric, num_threads=2, **settings)
        return search.compile(student, trainset=train)
    demos = {k: v for k, v in settings.items() if k != "auto"}
    mipro = dspy.MIPROv2(metric=metric, auto=settings["auto"], num_threads=2)
    return mipro.compile(student, trainset=train, valset=train, **demos)


def evaluate(task: Task, program: Any, rows: list[dict[str, Any]]) -> dict[str, Any]:
    scores, parse_failures, errors = [], 0, 0
    for row in rows:
        try:
            prediction = program(**{k: row[k] for k in task.inputs})
        except Exception as exc:  # DSPy raises AdapterParseError, or the LM's own errors
            if "ParseError" in type(exc).__name__:
                parse_failures += 1
            else:
                errors += 1
            scores.append(0.0)
            continue
        got = {k: _plain(getattr(prediction, k, None)) for k in task.outputs}
        scores.append(task.score(row, got))
    return summary(scores, parse_failures, errors)


def main() -> None:
    args = child_args()
    task = TASKS[args.task]
    dspy.configure_cache(disk_cache_dir=str(args.workdir / "dspy_cache"))
    lm = dspy.LM(
        "openai/smollm2",
        api_base=args.base_url,
        api_key="unused-by-llama-cpp",
        temperature=0.0,
        max_tokens=task.max_tokens,
        # litellm sends max_tokens as max_completion_tokens, which llama.cpp ignores (replies
        # then run to the context limit); extra_body passes the same bound the way it reads it.
        extra_body={"max_tokens": task.max_tokens},
        # DSPy sends no structured-output request to a model litellm does not know; JSON mode
        # is the most a DSPy user can ask of this server (a JSON grammar, without the schema).
        response_format={"type": "json_object"},
    )
    # DSPy's evaluations give up after 10 failed examples by default, which ends its random
    # search and MIPROv2 on a model this small; castlm scores such rows 0 and goes on.
    dspy.configure(lm=lm, adapter=dspy.JSONAdapter(), max_errors=1_000_000)
    signature, chain_of_thought = PROGRAMS[task.name]

    def metric(example: Any, pred: Any, trace: Any = None) -> float:
        got = {k: _plain(getattr(pred, k, None)) for k in task.outputs}
        return task.score(dict(example), got)

    def examples(split: str) -> list[Any]:
        return [dspy.Example(**row).with_inputs(*task.inputs) for row in task.rows(split)]

    train, dev = examples("train"), task.rows("dev")
    start = time.perf_counter()
    baseline = evaluate(task, Program(signature, chain_of_thought), dev)
    program = optimize(task, args.optimizer, Program(signature, chain_of_thought), train, metric)
    result = evaluate(task, program, dev)
    result.update(
        seconds=time.perf_counter() - start,
        baseline=baseline["dev_score"],
        settings={
            "temperature": 0.0,
            "max_tokens": task.max_tokens,
            "adapter": "JSONAdapter",
            "response_format": "json_object",
        },
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
