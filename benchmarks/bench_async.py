"""Async throughput against a local OpenAI-compatible server with a fixed 50 ms latency.

``concurrency`` workers each await one predictor call after another (a Predict of the same
ticket-classification signature, varied tickets), against benchmarks/latency_server.py running
in its own process. castlm: ``Predict.acall`` with ``OpenAIChatLM`` (httpx). DSPy:
``Predict.acall`` with ``dspy.LM("openai/...", api_base=...)``, once with its default engine
selection (``engine="auto"``) and once with ``engine="litellm"``, the LiteLLM path of earlier
releases; caching off everywhere. One warm-up wave opens the connections; then
``requests`` calls are timed. The ideal is ``concurrency / latency`` calls per second: the
server's latency is the only wait a perfect client would have.

Run as a child in each framework's venv: ``python bench_async.py child castlm|dspy ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

NAME = "Async throughput"
LATENCY = 0.05
CONCURRENCY = 64
IDEAL_SHARE = 0.9

Category = Literal["billing", "bug", "account", "feature_request", "other"]
TICKETS_FILE = Path(__file__).resolve().parent.parent / "examples/triage/data/train.jsonl"


def tickets() -> list[str]:
    with TICKETS_FILE.open(encoding="utf-8") as f:
        return [json.loads(line)["ticket"] for line in f if line.strip()]


# -- children --------------------------------------------------------------------------------
def castlm_call(base_url: str, model: str) -> Callable[[str], Awaitable[str]]:
    import castlm as cl

    class Classify(cl.Signature):
        """Classify a support ticket."""

        ticket: str = cl.InputField(desc="the customer's message")
        category: Category = cl.OutputField()

    lm = cl.OpenAIChatLM(model, base_url=base_url, api_key="bench", cache=None)
    predictor = cl.Predict(Classify, lm=lm)

    async def call(ticket: str) -> str:
        return (await predictor.acall(ticket=ticket)).category

    return call


def dspy_call(base_url: str, model: str, engine: str) -> Callable[[str], Awaitable[str]]:
    import dspy

    class Classify(dspy.Signature):  # type: ignore[misc]  # dspy: untyped in this venv
        """Classify a support ticket."""

        ticket: str = dspy.InputField(desc="the customer's message")
        category: Category = dspy.OutputField()

    lm = dspy.LM(f"openai/{model}", api_base=base_url, api_key="bench", cache=False, engine=engine)
    predictor = dspy.Predict(Classify)
    predictor.set_lm(lm)

    async def call(ticket: str) -> str:
        return str((await predictor.acall(ticket=ticket)).category)

    return call


async def drive(
    call: Callable[[str], Awaitable[str]], texts: list[str], concurrency: int, requests: int
) -> dict[str, Any]:
    errors: list[str] = []

    async def one(i: int) -> None:
        try:
            await call(texts[i % len(texts)])
        except Exception as exc:  # counted, not fatal: throughput counts successes only
            errors.append(f"{type(exc).__name__}: {exc}"[:300])

    await asyncio.gather(*(one(i) for i in range(concurrency)))  # open the connections
    errors.clear()
    per_worker = requests // concurrency

    async def worker(w: int) -> None:
        for k in range(per_worker):
            await one(w * per_worker + k)

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    done = per_worker * concurrency
    return {
        "requests": done,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "seconds": elapsed,
        "throughput": (done - len(errors)) / elapsed,
        "cpu_us_per_call": cpu / done * 1e6,
    }


def child(args: argparse.Namespace) -> None:
    if args.framework == "castlm":
        call = castlm_call(args.base_url, args.model)
    else:
        call = dspy_call(args.base_url, args.model, args.engine)
    result = asyncio.run(drive(call, tickets(), args.concurrency, args.requests))
    print(json.dumps(result))


# -- parent ----------------------------------------------------------------------------------
def run(ctx: Any) -> Any:
    from harness import (
        Result,
        Row,
        at_least_as_high,
        child_env,
        child_json,
        dspy_env,
        latency_server,
        median,
    )

    requests = ctx.reps(CONCURRENCY * 40, CONCURRENCY * 8)
    rounds = ctx.reps(3, 1)
    ideal = CONCURRENCY / LATENCY
    script = __file__
    runs: dict[str, list[dict[str, Any]]] = {"castlm": [], "dspy auto": [], "dspy litellm": []}
    with latency_server(LATENCY) as server:
        common = ["--base-url", server.base_url, "--concurrency", CONCURRENCY]
        common += ["--requests", requests]
        for i in range(rounds):
            for name in runs:
                framework, _, engine = name.partition(" ")
                python = ctx.castlm_python if framework == "castlm" else ctx.dspy_python
                cmd = [python, script, "child", framework, *common, "--model", f"{name}-{i}"]
                cmd += ["--engine", engine or "auto"]
                env = child_env() if framework == "castlm" else dspy_env()
                server_cpu = server.cpu_seconds()
                result = child_json(cmd, env=env, timeout=600)
                if server_cpu is not None:
                    spent = (server.cpu_seconds() or server_cpu) - server_cpu
                    # The warm-up wave is in there too: a slight overestimate.
                    result["server_us_per_call"] = spent / result["requests"] * 1e6
                runs[name].append(result)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    rate = {name: median([r["throughput"] for r in results]) for name, results in runs.items()}
    best_dspy = max(("dspy auto", "dspy litellm"), key=lambda n: rate[n])
    engine = best_dspy.partition(" ")[2]
    rows = [
        at_least_as_high(
            f"async throughput, concurrency {CONCURRENCY}",
            rate["castlm"],
            rate[best_dspy],
            "req/s",
            note=f"vs DSPy engine={engine}, its faster one",
        ),
        Row(
            "async throughput vs ideal",
            rate["castlm"],
            None,
            "req/s",
            rate["castlm"] / ideal,
            "castlm/ideal",
            f"≥ {IDEAL_SHARE:.0%} of {ideal:,.0f} req/s",
            rate["castlm"] / ideal >= IDEAL_SHARE,
        ),
    ]
    lines = [
        f"{requests} timed calls per run after a warm-up wave of {CONCURRENCY}, "
        f"{rounds} run(s) each, in turn; median throughput. Server latency "
        f"{LATENCY * 1000:.0f} ms, so the ideal is {ideal:,.0f} calls/s.",
        "",
        "| client | calls/s (median) | share of ideal | client CPU µs/call | server CPU µs/call "
        "| errors | runs (calls/s) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    cpu = {n: median([r["cpu_us_per_call"] for r in rs]) for n, rs in runs.items()}
    served = {
        n: [r["server_us_per_call"] for r in rs if "server_us_per_call" in r]
        for n, rs in runs.items()
    }
    for name, results in runs.items():
        label = {"castlm": "castlm `OpenAIChatLM`"}.get(name, f"DSPy `engine={name[5:]}`")
        errors = sum(r["errors"] for r in results)
        samples = ", ".join(f"{r['throughput']:.0f}" for r in results)
        served_text = f"{median(served[name]):.0f}" if served[name] else "n/a"
        lines.append(
            f"| {label} | {rate[name]:,.0f} | {rate[name] / ideal:.0%} | {cpu[name]:.0f} "
            f"| {served_text} | {errors} | {samples} |"
        )
    if not rows[1].ok:
        need = cpu["castlm"] * ideal / 1e6
        server_need = median(served["castlm"]) * ideal / 1e6 if served["castlm"] else 0.0
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        lines += [
            "",
            f"At the ideal rate, castlm's client would need {need:.2f} of a core (its CPU "
            f"time per call x {ideal:,.0f} calls/s) and the server {server_need:.2f}, both "
            f"Python processes on this {cores}-core machine"
            + (f" (load average {load:.1f} during the run)" if load is not None else "")
            + ". The client is one event loop, so it cannot use more than one core; where the "
            "need approaches or exceeds the core it can get, CPU, not the 50 ms latency, sets "
            "the rate.",
        ]
    first_errors = {n: r["first_error"] for n, rs in runs.items() for r in rs if r["first_error"]}
    for name, error in first_errors.items():
        lines += ["", f"First error of {name}: `{error}`"]
    return Result(NAME, rows, "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["child"])
    parser.add_argument("framework", choices=["castlm", "dspy"])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", default="bench")
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--requests", type=int, default=CONCURRENCY * 40)
    child(parser.parse_args())


if __name__ == "__main__":
    main()
