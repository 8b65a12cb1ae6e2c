"""Compile wall time and LM calls: random search and MIPROv2 (light), castlm versus DSPy.

The same program (a ChainOfThought that classifies a support ticket into one of five
categories), the same data (the tickets and categories of examples/triage: 56 for training,
32 for dev), the same settings, the same number of threads and the same fixed-latency server,
which answers both frameworks' prompt formats (benchmarks/latency_server.py) and counts the
chat requests it receives per model name: that count is the LM-call count.

Each side does what a user's compile does: score the unoptimized program on dev, optimize
(trainset = valset = the training data, as castlm's pipeline does), score the result on dev
and save it. castlm: ``castlm compile`` (with ``--no-verify``: verification runs mypy, a step
DSPy has no counterpart for). DSPy: a script doing the same with ``dspy.Evaluate``,
``BootstrapFewShotWithRandomSearch`` / ``MIPROv2(auto="light")`` and ``program.save``. Both
start with an empty LM cache (their default caching, fresh). The wall time is the whole
process, spawn to exit, imports included.

Run as a child in DSPy's venv: ``python bench_compile.py child dspy ...``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Literal

NAME = "Compile"
LATENCY = 0.05
THREADS = 8
WALL_FRACTION = 0.5
ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "examples/triage/data"

Category = Literal["billing", "bug", "account", "feature_request", "other"]

#: Settings given to both frameworks, by castlm optimizer name.
OPTIMIZERS: dict[str, dict[str, Any]] = {
    "random_search": {
        "num_candidate_programs": 8,
        "max_bootstrapped_demos": 4,
        "max_labeled_demos": 8,
    },
    "mipro": {"auto": "light", "max_bootstrapped_demos": 4, "max_labeled_demos": 4},
}
LABELS = {"random_search": "random search", "mipro": "MIPROv2 light"}

RANDOM_SEARCH_CALLS = (
    "random search, LM calls: both sides score the same candidates (zero-shot, labeled, "
    "unshuffled bootstrap and `num_candidate_programs` shuffled bootstraps, each on the whole "
    "valset). castlm's bootstraps share one teacher, so each training example runs through "
    "it at most once (docs/optimizers/random_search.md); DSPy primes a teacher per candidate. "
    "castlm can make more calls only when its candidates' walks reach more training examples."
)

#: Why a compile's wall time stays above half of DSPy's, from a cProfile of one castlm compile
#: (shown under the table when the wall-time row misses).
WALL_PROFILES = {
    "random_search": (
        "Profile: nearly all of castlm's optimize phase is the candidate evaluations (11 "
        "distinct candidates x 56 valset examples = 616 calls), which already share one pool "
        "of 8 threads, so castlm runs close to its floor; the shared teacher adds a few runs. "
        "The floor itself (LM calls x 50 ms / 8) is within a few tenths of a second of half "
        "DSPy's wall time, and start-up, imports and saving add about 0.7 s, so the target "
        "needs fewer evaluation calls (the candidate set both sides score), not less overhead."
    ),
    "mipro": (
        "Profile (cProfile of one castlm compile, 6.7 s under the profiler): 2.7 s in 4 "
        "waves, each scoring a batch of `parallel_trials` = 4 minibatch trials together with "
        "the full evaluations already due in one pool of 8 threads (the search's 325 LM "
        "calls alone take 2.0 s at 50 ms / 8); 0.53 s asking optuna for the 10 trials (TPE "
        "and the study reads under it); 0.60 s opening the SQLite study (optuna's "
        "RDBStorage: SQLAlchemy engine, tables, alembic, mostly imports) and 0.45 s importing "
        "optuna; 0.43 s proposing candidates; 0.44 s in 85 reads of the study's trials (each "
        "one SQL query, counted in the items above); about 1.7 s importing in all. The "
        "optimize phase's own floor (its LM calls x 50 ms / 8 threads) is 2.1 s, so half of "
        "DSPy's wall time would leave start-up, the baseline, the study and TPE about 1.4 s "
        "together: the target needs fewer LM calls or less than half of the optuna and "
        "start-up cost (castlm issue #6)."
    ),
}

CASTLM_PROGRAM = '''\
"""A ticket classifier, the program both frameworks compile."""

from typing import Literal

import castlm as cl

Category = Literal["billing", "bug", "account", "feature_request", "other"]


class Classify(cl.Signature):
    """Classify a support ticket."""

    ticket: str = cl.InputField(desc="the customer's message")
    category: Category = cl.OutputField()


class TicketClassifier(cl.Module):
    def __init__(self) -> None:
        self.classify = cl.ChainOfThought(Classify)

    def forward(self, ticket: str) -> Classify:
        return self.classify(ticket=ticket)
'''


def rows_of(split: str) -> list[dict[str, str]]:
    """``{ticket, category}`` rows of examples/triage's ``train`` or ``dev`` split."""
    with (DATA / f"{split}.jsonl").open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [{"ticket": r["ticket"], "category": r["category"]} for r in rows]


# -- DSPy child --------------------------------------------------------------------------------
def dspy_child(args: argparse.Namespace) -> None:
    import dspy

    dspy.configure_cache(disk_cache_dir=str(Path(args.workdir) / "dspy_cache"))

    class Classify(dspy.Signature):  # type: ignore[misc]  # dspy: untyped in this venv
        """Classify a support ticket."""

        ticket: str = dspy.InputField(desc="the customer's message")
        category: Category = dspy.OutputField()

    class TicketClassifier(dspy.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.classify = dspy.ChainOfThought(Classify)

        def forward(self, ticket: str) -> Any:
            return self.classify(ticket=ticket)

    def metric(example: Any, pred: Any, trace: Any = None) -> bool:
        return bool(example.category == pred.category)

    def examples(split: str) -> list[Any]:
        return [dspy.Example(**row).with_inputs("ticket") for row in rows_of(split)]

    train, dev = examples("train"), examples("dev")
    dspy.configure(lm=dspy.LM(f"openai/{args.model}", api_base=args.base_url, api_key="bench"))
    evaluate = dspy.Evaluate(devset=dev, metric=metric, num_threads=args.threads)
    seconds: dict[str, float] = {}
    calls: dict[str, int] = {}
    counted = [_server_calls(args.stats_url, args.model)]

    def phase(name: str, began: float) -> None:
        seconds[name] = time.perf_counter() - began
        counted.append(_server_calls(args.stats_url, args.model))
        calls[name] = counted[-1] - counted[-2]

    start = time.perf_counter()
    baseline = evaluate(TicketClassifier())
    phase("baseline", start)

    settings = OPTIMIZERS[args.optimizer]
    start = time.perf_counter()
    if args.optimizer == "random_search":
        optimizer = dspy.BootstrapFewShotWithRandomSearch(
            metric=metric, num_threads=args.threads, **settings
        )
        program = optimizer.compile(TicketClassifier(), trainset=train)
    else:
        demos = {k: v for k, v in settings.items() if k != "auto"}
        optimizer = dspy.MIPROv2(metric=metric, auto=settings["auto"], num_threads=args.threads)
        program = optimizer.compile(TicketClassifier(), trainset=train, valset=train, **demos)
    phase("optimize", start)

    start = time.perf_counter()
    compiled = evaluate(program)
    phase("compiled", start)
    program.save(str(Path(args.workdir) / "program.json"))
    print(
        json.dumps(
            {
                "baseline": float(baseline.score),
                "compiled": float(compiled.score),
                "seconds": seconds,
                "calls": calls,
            }
        )
    )


def _server_calls(stats_url: str, model: str) -> int:
    import urllib.request

    with urllib.request.urlopen(stats_url, timeout=10) as answer:
        return int(json.loads(answer.read()).get(model, 0))


# -- parent ------------------------------------------------------------------------------------
def castlm_project(folder: Path, optimizer: str, model: str, base_url: str) -> Path:
    """A castlm project (program, data, castlm.toml) compiling with ``optimizer``."""
    folder.mkdir(parents=True)
    (folder / "program.py").write_text(CASTLM_PROGRAM, encoding="utf-8")
    for split in ("train", "dev"):
        lines = [json.dumps(row) for row in rows_of(split)]
        (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    options = "\n".join(f"{k} = {json.dumps(v)}" for k, v in OPTIMIZERS[optimizer].items())
    (folder / "castlm.toml").write_text(
        f'program = "program.py:TicketClassifier"\n'
        f'metric = "exact_match"\n'
        f'train = "train.jsonl"\n'
        f'dev = "dev.jsonl"\n'
        f'optimizer = "{optimizer}"\n'
        f'lm = "openai/{model}"\n'
        f'base_url = "{base_url}"\n'
        f"threads = {THREADS}\n"
        f'out = "build/ticket_classifier"\n\n'
        f"[optimizer_options]\n{options}\n",
        encoding="utf-8",
    )
    return folder


def available(ctx: Any) -> list[str]:
    from harness import child_json

    code = (
        "import json\nfrom castlm.compiler.optimizers import OPTIMIZERS\n"
        "print(json.dumps(sorted(OPTIMIZERS)))"
    )
    names: list[str] = child_json([ctx.castlm_python, "-c", code])
    return names


def run(ctx: Any) -> Any:
    from harness import Result, Row, at_most_fraction, latency_server, median

    registered = available(ctx)
    rounds = ctx.reps(3, 1)
    _warm_up(ctx)
    rows: list[Any] = []
    notes: list[str] = []
    lines = [
        f"Server latency {LATENCY * 1000:.0f} ms; {THREADS} threads on both sides; "
        "LM calls are the chat requests the server received. Settings on both sides:",
        "",
        *(f"- {LABELS[name]}: `{json.dumps(s)}`" for name, s in OPTIMIZERS.items()),
        "",
        f"{rounds} compile(s) per side and optimizer, alternating; the table shows each, the "
        "rows above their medians.",
        "",
        "| optimizer | side | wall (s) | LM calls | calls: baseline / optimize / compiled "
        "| seconds: baseline / optimize / compiled | dev score before → after |",
        "| --- | --- | ---: | ---: | --- | --- | --- |",
    ]
    with latency_server(LATENCY) as server:
        for name in OPTIMIZERS:
            label = LABELS[name]
            sides: dict[str, list[dict[str, Any]]] = {"DSPy": [], "castlm": []}
            for i in range(rounds):
                folder = ctx.workdir / f"compile-{name}-{i}"
                sides["DSPy"].append(_run_dspy(ctx, server, name, folder / "dspy", i))
                if name in registered:
                    sides["castlm"].append(_run_castlm(ctx, server, name, folder / "castlm", i))
            lines += [_line(label, side, r) for side, runs in sides.items() for r in runs]
            d_calls = median([r["calls"] for r in sides["DSPy"]])
            d_wall = median([r["wall"] for r in sides["DSPy"]])
            if not sides["castlm"]:
                note = "castlm optimizer not available yet"
                rows += [
                    Row(f"{label}: LM calls", None, d_calls, "calls", None, "", "", None, note),
                    Row(f"{label}: wall time", None, d_wall, "s", None, "", "", None, note),
                ]
                continue
            c_calls = median([r["calls"] for r in sides["castlm"]])
            c_wall = median([r["wall"] for r in sides["castlm"]])
            rows.append(
                Row(
                    f"{label}: LM calls",
                    c_calls,
                    d_calls,
                    "calls",
                    c_calls / d_calls,
                    "castlm/DSPy",
                    "≤ DSPy",
                    c_calls <= d_calls,
                )
            )
            wall_row = at_most_fraction(f"{label}: wall time", c_wall, d_wall, "s", WALL_FRACTION)
            rows.append(wall_row)
            if c_calls > d_calls and name == "random_search":
                notes.append(RANDOM_SEARCH_CALLS)
            notes.append(_floors(label, sides, wall_row.ok))
            if wall_row.ok is False and name in WALL_PROFILES:
                notes.append(WALL_PROFILES[name])
    for note in notes:
        lines += ["", note]
    return Result(NAME, rows, "\n".join(lines))


def _floors(label: str, sides: dict[str, list[dict[str, Any]]], ok: bool | None) -> str:
    """What the LM latency alone costs each side, and where the rest of the wall time went."""
    from harness import median

    parts = []
    for side, runs in sides.items():
        calls = median([r["calls"] for r in runs])
        wall = median([r["wall"] for r in runs])
        floor = calls * LATENCY / THREADS
        outside = median([r["wall"] - sum(r["phase_seconds"].values()) for r in runs])
        parts.append(
            f"{side} {wall:.1f} s = {wall / floor:.1f}x its floor of {floor:.1f} s, "
            f"{outside:.1f} s of it outside the three phases (start-up, imports, loading, "
            "saving)"
        )
    text = (
        f"{label}: no compile can beat its latency floor, LM calls x {LATENCY * 1000:.0f} ms / "
        f"{THREADS} threads. " + "; ".join(parts) + "."
    )
    if ok is False:
        text += (
            " With equal threads and similar call counts, castlm's wall time can only be half "
            "of DSPy's if DSPy spends more than twice castlm's floor."
        )
    return text


def _warm_up(ctx: Any) -> None:
    """Import both compilers once, so that bytecode caches exist before anything is timed."""
    from harness import dspy_env, run

    castlm = "import castlm.compiler.cli, castlm.compiler.pipeline, castlm.compiler.optimizers"
    run([ctx.castlm_python, "-c", castlm])
    run([ctx.dspy_python, "-c", "import dspy, dspy.teleprompt, optuna"], env=dspy_env())


def _run_dspy(ctx: Any, server: Any, optimizer: str, folder: Path, i: int) -> dict[str, Any]:
    from harness import child_json, dspy_env

    model = f"dspy-{optimizer}-{i}"
    folder.mkdir(parents=True)
    cmd = [ctx.dspy_python, __file__, "child", "dspy", "--optimizer", optimizer]
    cmd += ["--base-url", server.base_url, "--model", model, "--threads", THREADS]
    cmd += ["--workdir", folder, "--stats-url", server.stats_url]
    start = time.perf_counter()
    out = child_json(cmd, env=dspy_env(), timeout=900)
    wall = time.perf_counter() - start
    return {
        "wall": wall,
        "calls": server.calls().get(model, 0),
        "phase_calls": out["calls"],
        "phase_seconds": out["seconds"],
        "scores": (out["baseline"], out["compiled"]),
    }


def _run_castlm(ctx: Any, server: Any, optimizer: str, folder: Path, i: int) -> dict[str, Any]:
    from harness import child_env, run

    model = f"castlm-{optimizer}-{i}"
    project = castlm_project(folder, optimizer, model, server.base_url)
    castlm = ctx.castlm_python.parent / "castlm"
    cmd = [castlm, "compile", project, "--force", "--no-verify", "--json"]
    start = time.perf_counter()
    proc = run(cmd, env=child_env(CASTLM_API_KEY="bench"), timeout=900)
    wall = time.perf_counter() - start
    summary = json.loads(proc.stdout[proc.stdout.index("{") :])
    phases = {p["name"]: p for p in summary.get("phases", [])}
    scores = summary.get("scores") or {}
    return {
        "wall": wall,
        "calls": server.calls().get(model, 0),
        "phase_calls": {k: p["calls"] for k, p in phases.items()},
        "phase_seconds": {k: p["seconds"] for k, p in phases.items()},
        "scores": (scores.get("baseline"), scores.get("compiled")),
    }


def _line(label: str, side: str, result: dict[str, Any]) -> str:
    keys = ("baseline", "optimize", "compiled")
    calls = " / ".join(str(result["phase_calls"].get(k, "?")) for k in keys)
    seconds = " / ".join(f"{result['phase_seconds'].get(k, float('nan')):.1f}" for k in keys)
    before, after = result["scores"]
    scores = "n/a" if before is None else f"{before:.1f} → {after:.1f}"
    return (
        f"| {label} | {side} | {result['wall']:.1f} | {result['calls']} | {calls} | {seconds} "
        f"| {scores} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["child"])
    parser.add_argument("framework", choices=["dspy"])
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--threads", type=int, default=THREADS)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--stats-url", required=True)
    dspy_child(parser.parse_args())


if __name__ == "__main__":
    main()
