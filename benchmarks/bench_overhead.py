"""Per-call framework overhead: one predictor call with an in-process fake LM, caching off.

Three programs: a one-field ``Predict`` and ``ChainOfThought`` (a ticket in, a category out),
and the shipped examples/triage program (a Module around a ChainOfThought with a Literal, a bool
and a nested pydantic model as outputs, and 8 demos from its training set), called as
production calls it: ``program(ticket=...)``. DSPy gets the same program written for DSPy.

Both frameworks get the same signature (a ticket in, a category out), the same input and the
same fixed, well-formed reply, from an LM that does no work: castlm a ``castlm.LM`` subclass
(``cache=None``), DSPy a ``dspy.LM`` with ``cache=False`` and a custom engine (DSPy 3.4's
interface for a backend: ``complete(Request) -> Response``). What is timed is the predictor
call alone: input validation, prompt formatting, the LM wrapper, parsing and the typed result.
Each call is timed on its own (``perf_counter_ns``) after a warm-up, and the median is kept.

Run as a child in each framework's venv: ``python bench_overhead.py child castlm|dspy``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

NAME = "Per-call overhead"
TARGET_FACTOR = 10.0

TICKET = "I was charged twice this month, please refund the second payment."
REPLIES = {
    "Predict": "[[ ## category ## ]]\nbilling\n\n[[ ## completed ## ]]",
    "ChainOfThought": (
        "[[ ## reasoning ## ]]\nThe customer asks for a refund of a double charge.\n\n"
        "[[ ## category ## ]]\nbilling\n\n[[ ## completed ## ]]"
    ),
}
# Module level, so that both frameworks can resolve the annotation of a signature declared
# inside a function.
Category = Literal["billing", "bug", "account", "feature_request", "other"]
INPUT_DESC = "the customer's message"


TRIAGE = Path(__file__).resolve().parent.parent / "examples" / "triage"
TRIAGE_DEMOS = 8
TRIAGE_OUTPUT = {
    "reasoning": "The customer was charged twice and wants the second payment back.",
    "category": "billing",
    "urgent": False,
    "customer": {"plan": "pro", "product": "web app"},
}
PROGRAMS = ("Predict", "ChainOfThought", "triage program")


def triage_demos() -> list[dict[str, Any]]:
    with (TRIAGE / "data" / "train.jsonl").open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return rows[:TRIAGE_DEMOS]


class CustomerInfo(BaseModel):
    """examples/triage's nested output, for the DSPy version of the program (module level:
    DSPy resolves the signature's annotations in this module's namespace)."""

    plan: Literal["free", "pro", "enterprise"] = Field(description="the subscription plan")
    product: str = Field(description="the product concerned")


# -- children --------------------------------------------------------------------------------
def castlm_predictors() -> dict[str, Callable[[], Any]]:
    import castlm as cl
    from castlm import LMRequest, LMResponse, Usage

    class FixedLM(cl.LM):
        def __init__(self, reply: str) -> None:
            super().__init__("fixed", cache=None)
            self.reply = reply

        def _send(self, request: LMRequest) -> LMResponse:
            return LMResponse(self.reply, self.model, Usage(0, 0), "stop")

    class Classify(cl.Signature):
        """Classify a support ticket."""

        ticket: str = cl.InputField(desc=INPUT_DESC)
        category: Category = cl.OutputField()

    calls = {}
    for name, cls in (("Predict", cl.Predict), ("ChainOfThought", cl.ChainOfThought)):
        predictor = cls(Classify, lm=FixedLM(REPLIES[name]))
        calls[name] = _bind(predictor)
    sys.path.insert(0, str(TRIAGE))
    import program

    bot = program.TriageBot()
    bot.triage.demos = triage_demos()
    reply = json.dumps(TRIAGE_OUTPUT) if bot.triage.adapter.response_format(bot.triage.spec) else ""
    reply = reply or "\n\n".join(
        f"[[ ## {k} ## ]]\n{v if isinstance(v, str) else json.dumps(v)}"
        for k, v in TRIAGE_OUTPUT.items()
    )
    bot.set_lm(FixedLM(reply))
    calls["triage program"] = _bind(bot)
    return calls


def dspy_predictors() -> dict[str, Callable[[], Any]]:
    import dspy
    from dspy.lm15 import Message, Response, TextPart, Usage

    class FixedEngine:
        """A DSPy 3.4 engine that answers every request with one fixed reply."""

        def __init__(self, reply: str) -> None:
            self.reply = reply

        def complete(self, request: Any) -> Any:
            return Response(
                id=None,
                model="fixed",
                message=Message.assistant([TextPart(self.reply)]),
                finish_reason="stop",
                usage=Usage(input_tokens=0, output_tokens=0, total_tokens=0),
            )

        def stream(self, request: Any) -> Any:
            raise NotImplementedError

        def close(self) -> None:
            pass

    class Classify(dspy.Signature):  # type: ignore[misc]  # dspy: untyped in this venv
        """Classify a support ticket."""

        ticket: str = dspy.InputField(desc=INPUT_DESC)
        category: Category = dspy.OutputField()

    calls = {}
    for name, cls in (("Predict", dspy.Predict), ("ChainOfThought", dspy.ChainOfThought)):
        predictor = cls(Classify)
        # The predictor's own LM (as castlm's lm=), not the global setting.
        predictor.set_lm(dspy.LM("openai/fixed", engine=FixedEngine(REPLIES[name]), cache=False))
        calls[name] = _bind(predictor)
    bot = _dspy_triage(dspy)
    reply = "\n\n".join(
        f"[[ ## {k} ## ]]\n{v if isinstance(v, str) else json.dumps(v)}"
        for k, v in TRIAGE_OUTPUT.items()
    )
    bot.set_lm(
        dspy.LM(
            "openai/fixed", engine=FixedEngine(reply + "\n\n[[ ## completed ## ]]"), cache=False
        )
    )
    calls["triage program"] = _bind(bot)
    return calls


def _dspy_triage(dspy: Any) -> Any:
    """examples/triage written for DSPy: the same signature, module and demos."""

    class Triage(dspy.Signature):  # type: ignore[misc]  # dspy: untyped in this venv
        """Triage a support ticket: pick its category, say whether it is urgent, and identify
        the customer's plan and the product the ticket is about."""

        ticket: str = dspy.InputField(desc="the customer's message")
        category: Category = dspy.OutputField()
        urgent: bool = dspy.OutputField(desc="true when the customer is blocked")
        customer: CustomerInfo = dspy.OutputField()

    class TriageBot(dspy.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.triage = dspy.ChainOfThought(Triage)

        def forward(self, ticket: str) -> Any:
            return self.triage(ticket=ticket)

    bot = TriageBot()
    bot.triage.predict.demos = [dspy.Example(**row).with_inputs("ticket") for row in triage_demos()]
    return bot


def _bind(predictor: Any) -> Callable[[], Any]:
    def call() -> Any:
        return predictor(ticket=TICKET)

    result = call()
    assert result.category == "billing", result
    return call


def time_calls(call: Callable[[], Any], calls: int, warmup: int) -> list[int]:
    for _ in range(warmup):
        call()
    samples = []
    clock = time.perf_counter_ns
    for _ in range(calls):
        start = clock()
        call()
        samples.append(clock() - start)
    return samples


def child(framework: str, calls: int, warmup: int, profile: bool) -> None:
    predictors = castlm_predictors() if framework == "castlm" else dspy_predictors()
    out: dict[str, Any] = {}
    for name, call in predictors.items():
        samples = time_calls(call, calls, warmup)
        out[name] = {
            "median_us": statistics.median(samples) / 1000,
            "p90_us": sorted(samples)[int(len(samples) * 0.9)] / 1000,
        }
    if profile:
        out["profile"] = _profile(predictors["triage program"], calls)
    print(json.dumps(out))


def _profile(call: Callable[[], Any], calls: int) -> str:
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        call()
    profiler.disable()
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats("tottime").print_stats(14)
    lines = stream.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if "ncalls" in line)
    return "\n".join(_shorten(line) for line in lines[start:] if line.strip())


def _shorten(line: str) -> str:
    # Site-packages paths are long and machine-specific; keep the package-relative part.
    for marker in ("site-packages/", "python3.11/", "__editable__.castlm-0.1.0-py3-none-any/"):
        if marker in line:
            head = line.partition("/")[0]
            line = head + line[line.rfind(marker) + len(marker) :]
    return line


# -- parent ----------------------------------------------------------------------------------
def run(ctx: Any) -> Any:
    from harness import Result, at_least_times_less, child_json, code_block, dspy_env

    calls, warmup = ctx.reps(5000, 500), ctx.reps(500, 50)
    script = __file__
    castlm = child_json(
        [
            ctx.castlm_python,
            script,
            "child",
            "castlm",
            "--calls",
            calls,
            "--warmup",
            warmup,
            "--profile",
        ]
    )
    dspy = child_json(
        [ctx.dspy_python, script, "child", "dspy", "--calls", calls, "--warmup", warmup],
        env=dspy_env(),
    )
    rows = [
        at_least_times_less(
            f"{name} call overhead",
            castlm[name]["median_us"],
            dspy[name]["median_us"],
            "µs",
            TARGET_FACTOR,
        )
        for name in PROGRAMS
    ]
    table = [
        "| predictor | castlm median / p90 (µs) | DSPy median / p90 (µs) |",
        "| --- | ---: | ---: |",
    ]
    for name in PROGRAMS:
        c, d = castlm[name], dspy[name]
        table.append(
            f"| {name} | {c['median_us']:.1f} / {c['p90_us']:.1f} "
            f"| {d['median_us']:.1f} / {d['p90_us']:.1f} |"
        )
    details = "\n".join(
        [
            f"{calls} timed calls per predictor after {warmup} warm-up calls, in one process "
            "per framework.",
            "",
            *table,
            "",
            f"castlm's triage program call under cProfile ({calls} calls, by own time):",
            "",
            code_block(castlm["profile"]),
        ]
    )
    return Result(NAME, rows, details)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["child"])
    parser.add_argument("framework", choices=["castlm", "dspy"])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    child(args.framework, args.calls, args.warmup, args.profile)


if __name__ == "__main__":
    main()
