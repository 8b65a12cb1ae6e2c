"""Async throughput of a predictor against a local OpenAI-compatible server.

The server (tests/support/fake_openai.py, in its own process so that it does not compete for
this one's interpreter lock) answers every request after a fixed latency. With ``concurrency``
requests in flight, an ideal client completes ``concurrency / latency`` requests per second;
this prints the fraction of that the castlm runtime reaches (target: >= 0.90)::

    .venv/bin/python benchmarks/async_throughput.py [--requests 2560] [--concurrency 64]

Each round sends ``--requests`` calls through ``Predict.abatch``; the best round is reported,
as other load on the machine can only slow a round down. The client's CPU time per request
is printed too: it is what bounds throughput when cores are scarce.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPLY = "[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]"


def serve(latency: float, conn: Connection) -> None:
    """Run the fake server until the parent says stop (in a child process)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from support.fake_openai import FakeOpenAI

    with FakeOpenAI(reply=REPLY, latency=latency) as server:
        conn.send(server.base_url)
        conn.recv()


async def measure(
    base_url: str, requests: int, concurrency: int, rounds: int
) -> list[tuple[float, float, int]]:
    """Per round: seconds to answer ``requests`` inputs, CPU seconds used, inputs failed."""
    import castlm as cl

    class QA(cl.Signature):
        """Answer the question."""

        question: str = cl.InputField()
        answer: str = cl.OutputField()

    lm = cl.OpenAIChatLM("bench", base_url=base_url, max_connections=concurrency, api_key="k")
    predict = cl.Predict(QA, lm=lm)
    warmup = [{"question": f"warm {i}"} for i in range(concurrency)]
    await predict.abatch(warmup, concurrency=concurrency)  # opens the pooled connections
    results = []
    for r in range(rounds):
        inputs = [{"question": f"round {r} question {i}"} for i in range(requests)]
        started, cpu = time.perf_counter(), time.process_time()
        result = await predict.abatch(inputs, concurrency=concurrency)
        elapsed = time.perf_counter() - started
        results.append((elapsed, time.process_time() - cpu, len(result.errors())))
    await lm.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2560)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.050)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(
        target=serve, args=(args.latency, child), daemon=True
    )
    server.start()
    try:
        base_url = parent.recv()
        rounds = asyncio.run(measure(base_url, args.requests, args.concurrency, args.rounds))
    finally:
        parent.send("stop")
        server.join(timeout=10)
    ideal = args.concurrency / args.latency
    print(
        f"{args.requests} requests per round, concurrency {args.concurrency}, latency "
        f"{args.latency * 1000:.0f} ms: ideal {ideal:.0f} req/s"
    )
    for elapsed, cpu, failed in rounds:
        rate = args.requests / elapsed
        print(
            f"  {rate:6.0f} req/s  fraction {rate / ideal:.3f}  "
            f"client CPU {cpu / args.requests * 1000:.3f} ms/request  {failed} failed"
        )
    best = min(elapsed for elapsed, _, _ in rounds)
    print(f"throughput fraction: {args.requests / best / ideal:.3f}")


if __name__ == "__main__":
    main()
