"""Run the castlm-vs-DSPy benchmarks side by side and write benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/run.py            # everything (creates benchmarks/.venv-dspy once)
    .venv/bin/python benchmarks/run.py --only import,overhead   # some (RESULTS.md untouched)
    .venv/bin/python benchmarks/run.py --only async --update   # rerun some, update their
                                                                # rows and sections in RESULTS.md
    .venv/bin/python benchmarks/run.py --quick    # fewer repetitions, for a smoke run

Run it with the project venv's interpreter: castlm is measured there, DSPy in its own venv.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # the benchmarks folder is not a package: imported via sys.path
    RESULTS_PATH,
    BenchError,
    Context,
    Result,
    Row,
    ensure_dspy_venv,
    machine,
    project_python,
    results_markdown,
    table,
    updated_results,
    versions,
    write_results,
)

BENCHMARKS = ("import", "memory", "overhead", "async", "compile", "footprint")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    parser.add_argument(
        "--update",
        action="store_true",
        help="with --only: replace those benchmarks' rows and sections in RESULTS.md",
    )
    args = parser.parse_args(argv)
    if args.update and (args.only is None or args.quick):
        parser.error("--update needs --only (a full run rewrites RESULTS.md) and no --quick")
    chosen = _chosen(args.only)
    started = time.perf_counter()
    dspy_python = ensure_dspy_venv(log=_log)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="castlm-bench-") as tmp:
        ctx = Context(Path(tmp), project_python(), dspy_python, quick=args.quick, log=_log)
        for name in chosen:
            results.append(_run_one(name, ctx))
        info = versions(ctx)
    total = time.perf_counter() - started
    rows = [row for result in results for row in result.rows]
    print()
    print(table(rows))
    print(f"\ntotal wall time: {total:.0f} s")
    now = datetime.datetime.now(datetime.UTC)
    if args.only is None and not args.quick:
        write_results(results_markdown(results, machine(), info, total, now))
        print("wrote benchmarks/RESULTS.md")
    elif args.update:
        page = RESULTS_PATH.read_text(encoding="utf-8")
        write_results(updated_results(page, list(zip(chosen, results, strict=True)), now))
        print("updated benchmarks/RESULTS.md")
    return 1 if any(row.note.startswith("error") for row in rows) else 0


def _chosen(only: str | None) -> list[str]:
    if only is None:
        return list(BENCHMARKS)
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {unknown}; choose from {', '.join(BENCHMARKS)}")
    return names


def _run_one(name: str, ctx: Context) -> Result:
    module = importlib.import_module(f"bench_{name}")
    _log(f"{module.NAME}...")
    start = time.perf_counter()
    try:
        result: Result = module.run(ctx)
    except (BenchError, OSError, ValueError, KeyError) as exc:
        # One broken benchmark must not hide the others: it becomes an error row.
        traceback.print_exc()
        message = str(exc).splitlines()[0][:200]
        row = Row(module.NAME, None, None, "", None, "", "", None, f"error: {message}")
        result = Result(module.NAME, [row], f"Failed:\n\n```text\n{exc}\n```")
    result.seconds = time.perf_counter() - start
    _log(f"{module.NAME}: {result.seconds:.0f} s")
    for row in result.rows:
        _log("  " + _summary(row))
    return result


def _summary(row: Row) -> str:
    verdict = {True: "pass", False: "MISS", None: row.note}[row.ok]
    ratio = "" if row.ratio is None else f" ratio {row.ratio:.2f} ({row.ratio_label})"
    return f"{row.label}: castlm {row.castlm} / DSPy {row.dspy} {row.unit}{ratio}: {verdict}"


def _log(message: str) -> None:
    print(f"[bench] {message}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
