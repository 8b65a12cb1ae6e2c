"""The ``castlm`` command: compile, check, inspect, eval, verify, diff.

Exit codes: 0 success, 1 a user error (the message says where and how to fix it),
2 an internal error (a castlm bug: please report it with the traceback). ``castlm diff``
exits 1 when the builds differ, as diff(1) does, and ``castlm eval`` when a gate fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import castlm
from castlm.base._errors import ConfigurationError
from castlm.lm._lm_settings import parse_assignment

from .config import LM_SETTINGS_KEYS, ProgramConfig, build_config, find_config, load_config_file
from .errors import CompileError
from .mlflow_settings import anchored

EXIT_OK, EXIT_USER, EXIT_INTERNAL = 0, 1, 2
EXIT_DIFFERENT = 1  # `castlm diff`, like diff(1): the builds differ


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
        return code
    except castlm.CastlmError as exc:
        _console(stderr=True).print(f"[bold red]error:[/] {_escape(str(exc))}", highlight=False)
        return EXIT_USER
    except KeyboardInterrupt:
        print("interrupted; LM calls made so far are cached, so rerunning resumes", file=sys.stderr)
        return EXIT_USER
    except Exception:
        traceback.print_exc()
        print("castlm: internal error (this is a bug in castlm; please report it)", file=sys.stderr)
        return EXIT_INTERNAL


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="castlm", description="Compile language-model programs.")
    parser.add_argument("--version", action="version", version=f"castlm {castlm.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _compile_parser(sub.add_parser("compile", help="optimize a program and emit a package"))
    check = sub.add_parser("check", help="static checks only; exit 1 on errors")
    check.add_argument(
        "path", nargs="?", default=".", help="a program file, or a folder with a config"
    )
    check.set_defaults(run=_run_check)
    inspect_ = sub.add_parser("inspect", help="print the program graph")
    inspect_.add_argument("target", help="PROGRAM.py[:Class]")
    inspect_.add_argument("--format", choices=("text", "mermaid", "both"), default="both")
    inspect_.set_defaults(run=_run_inspect)
    _eval_parser(sub.add_parser("eval", help="score a package or program on a dataset; A/B"))
    verify = sub.add_parser("verify", help="verify an emitted package folder")
    verify.add_argument("out", help="the folder `castlm compile` wrote (the --out folder)")
    verify.add_argument("--lm", help="LM to run the dev set with (default: the compile's)")
    verify.set_defaults(run=_run_verify)
    diff = sub.add_parser("diff", help="what changed between two builds (exit 1 if anything)")
    diff.add_argument("old", help="the older build (a --out folder)")
    diff.add_argument("new", help="the newer build")
    diff.add_argument("--json", action="store_true", help="print the changes as JSON")
    diff.set_defaults(run=_run_diff)
    return parser


def _eval_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", help="a compiled package (the --out folder) or PROGRAM.py:Class")
    p.add_argument(
        "other", nargs="?", help="a second package or program, compared on the same rows"
    )
    p.add_argument("--data", required=True, help="the rows to score (.jsonl, .json or .csv)")
    p.add_argument("--metric", required=True, help="PROGRAM.py:function, or exact_match / f1")
    p.add_argument("--lm", help="LM for every target (default: each package's compile-time LM)")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint (default: $CASTLM_BASE_URL)")
    p.add_argument(
        "--lm-setting", action="append", default=[], metavar="KEY=VALUE",
        help="LM setting over a package's compile-time ones, e.g. temperature=0 (repeatable)",
    )  # fmt: skip
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--no-cache", action="store_true", help="do not read or write the LM cache")
    p.add_argument(
        "--fail-under", type=float, metavar="SCORE",
        help="exit 1 when the first target's score (0-100) is below SCORE",
    )  # fmt: skip
    p.add_argument(
        "--fail-if-worse-than", metavar="B",
        help="compare with B and exit 1 when the first target is significantly worse",
    )  # fmt: skip
    p.add_argument(
        "--alpha", type=float, default=0.05, help="significance level of --fail-if-worse-than"
    )
    p.add_argument("--json", action="store_true", help="print a machine-readable summary")
    p.set_defaults(run=_run_eval)


def _compile_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "target", nargs="?", help="PROGRAM.py:Class, or a folder with castlm.toml / pyproject.toml"
    )
    p.add_argument("--train", help="training data (.jsonl, .json or .csv)")
    p.add_argument("--dev", help="dev data; default: split off the training data")
    p.add_argument(
        "--val", help="validation data the optimizer chooses with (default: the training data)"
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        help="split this share of the training data off as validation data (instead of --val)",
    )
    p.add_argument("--metric", help="PROGRAM.py:function, or exact_match / f1")
    p.add_argument("--optimizer", help="labeled, bootstrap, ...")
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="optimizer option (repeatable)",
    )
    p.add_argument(
        "--export-only",
        action="store_true",
        help="finetune: write the training data, start no job (= --option export_only=true)",
    )
    p.add_argument("--lm", help="task LM: a model name, openai/<model>, litellm/<model> or standin")
    p.add_argument("--teacher-lm", help="LM for bootstrapping (default: --lm)")
    p.add_argument(
        "--teacher",
        help="teacher that bootstrapping runs: a program PROGRAM.py:Class, or the output folder "
        "of an earlier castlm compile (default: the student)",
    )
    p.add_argument("--prompt-lm", help="LM that writes instructions (default: --lm)")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint (default: $CASTLM_BASE_URL)")
    roles = (("the task", "lm"), ("the teacher", "teacher-lm"), ("the prompt", "prompt-lm"))
    for role, flag in roles:
        p.add_argument(
            f"--{flag}-setting",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help=f"setting of {role} LM, e.g. temperature=0, max_tokens=64, "
            "structured_output=llama_cpp (repeatable)",
        )
    p.add_argument("--out", help="output folder (default: build/<package>)")
    p.add_argument("--package", help="Python package name (default: the class name in snake_case)")
    p.add_argument("--seed", type=int)
    p.add_argument("--threads", type=int)
    p.add_argument(
        "--max-lm-calls",
        type=int,
        metavar="N",
        help="stop after N real LM calls (cache hits are free) and emit the best so far",
    )
    p.add_argument(
        "--max-cost",
        type=float,
        metavar="USD",
        help="stop once the LM calls cost USD dollars (needs a price for every LM)",
    )
    p.add_argument(
        "--require-improvement",
        action="store_true",
        help="fail (exit 1, nothing written) unless the compiled program beats its baseline",
    )
    p.add_argument(
        "--min-score",
        type=float,
        metavar="SCORE",
        help="fail (exit 1, nothing written) if the compiled dev score (0-100) is below SCORE",
    )
    p.add_argument("--force", action="store_true", help="rebuild even when nothing changed")
    p.add_argument(
        "--no-verify", action="store_true", help="skip mypy, isolated import and parity checks"
    )
    p.add_argument("--no-cache", action="store_true", help="do not read or write the LM cache")
    p.add_argument("--json", action="store_true", help="print a machine-readable summary")
    p.add_argument(
        "--mlflow",
        nargs="?",
        const=True,
        metavar="TRACKING_URI",
        help="log the compile as an MLflow run (default store: the mlflow setting, else "
        "$MLFLOW_TRACKING_URI, else MLflow's default); needs castlm[mlflow]",
    )
    p.set_defaults(run=_run_compile)


_FLAG_KEYS = (
    "train",
    "dev",
    "val",
    "val_fraction",
    "metric",
    "optimizer",
    "lm",
    "teacher_lm",
    "teacher",
    "prompt_lm",
    "base_url",
    "out",
    "package",
    "seed",
    "threads",
    "max_lm_calls",
    "max_cost",
    "min_score",
)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {
        k: getattr(args, k) for k in _FLAG_KEYS if getattr(args, k) is not None
    }
    for key in ("train", "dev", "val", "out"):  # flags are relative to the working directory
        if key in values:
            values[key] = str(Path(values[key]).resolve())
    for key in ("metric", "teacher"):  # a file.py:name flag is relative to the working dir
        if ".py:" in values.get(key, ""):
            path, name = values[key].rsplit(":", 1)
            values[key] = f"{Path(path).resolve()}:{name}"
    if "teacher" in values and ".py" not in values["teacher"]:  # a package folder
        values["teacher"] = str(Path(values["teacher"]).resolve())
    options = [*args.option, *(["export_only=true"] if getattr(args, "export_only", False) else [])]
    if options:
        values["optimizer_options"] = dict(_parse_option(o) for o in options)
    for key in LM_SETTINGS_KEYS:
        given = getattr(args, key.replace("_settings", "_setting"))
        if given:
            values[key] = dict(_parse_setting(text, key) for text in given)
    if args.no_verify:
        values["verify"] = False
    if args.no_cache:
        values["cache"] = False
    if args.require_improvement:
        values["require_improvement"] = True
    uri = getattr(args, "mlflow", None)
    if uri is not None:
        values["mlflow"] = True if uri is True else {"tracking_uri": anchored(uri, Path.cwd())}
    return values


def _parse_setting(text: str, key: str) -> tuple[str, Any]:
    flag = "--" + key.replace("_settings", "_setting").replace("_", "-")
    try:
        return parse_assignment(text, where=flag)
    except ConfigurationError as exc:
        raise CompileError(str(exc)) from None


def _parse_option(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise CompileError(f"--option takes KEY=VALUE, got {text!r}")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    except RecursionError as exc:
        raise CompileError(f"--option {key}: the JSON value is nested too deeply") from exc
    return key.strip(), value


def configs_for(target: str | None, args: argparse.Namespace) -> list[ProgramConfig]:
    overrides = _overrides(args)
    if target and ".py:" in target:
        return [
            build_config({"program": target, **overrides}, base=Path.cwd(), origin="command line")
        ]
    folder = Path(target or ".")
    config_file = folder if folder.is_file() else find_config(folder)
    if config_file is None:
        raise CompileError(
            "no castlm.toml or [tool.castlm] in pyproject.toml here; pass PROGRAM.py:Class "
            "with --train/--metric/--lm, or add a config (see docs/configuration.md)",
            path=folder.resolve(),
        )
    return load_config_file(config_file.resolve(), overrides)


def _run_compile(args: argparse.Namespace) -> int:
    from .pipeline import compile_program
    from .preflight import preflight
    from .report import CliProgress, print_outcome, print_plan

    outcomes = []
    console = _console(stderr=args.json)
    plans = _console(stderr=True)  # the plan goes to stderr, also with --json
    configs = configs_for(args.target, args)
    preflight(configs)  # every program's mistakes, before the first one spends anything
    for config in configs:
        progress = CliProgress(console, enabled=not args.json)
        outcome = compile_program(
            config, force=args.force, progress=progress, on_plan=partial(print_plan, plans, config)
        )
        outcomes.append(outcome)
        if not args.json:
            print_outcome(console, outcome)
    if args.json:
        payload: Any = [o.to_json() for o in outcomes]
        print(json.dumps(payload[0] if len(payload) == 1 else payload, indent=2))
    return EXIT_OK


def _run_check(args: argparse.Namespace) -> int:
    from .analyze import analyze_file, check_target
    from .diagnostics import Diagnostic, format_diagnostics

    path = Path(args.path)
    targets: list[tuple[Path, str | None]]
    if path.is_dir():
        config_file = find_config(path)
        targets = (
            [(c.program.path, c.program.name) for c in load_config_file(config_file.resolve())]
            if config_file
            else [(p, None) for p in sorted(path.glob("*.py"))]
        )
    else:
        file_text, _, target_name = str(path).partition(":")
        targets = [(Path(file_text), target_name or None)]
    diagnostics: list[Diagnostic] = []
    for file, name in targets:
        if not file.is_file():
            raise CompileError("no such file", path=file)
        ir = analyze_file(file)
        diagnostics.extend(ir.diagnostics)
        if name:
            diagnostics.extend(check_target(ir, name))
    if diagnostics:
        print(format_diagnostics(diagnostics))
    errors = sum(d.is_error for d in diagnostics)
    print(
        f"{len(targets)} file(s) checked: "
        f"{errors} error(s), {len(diagnostics) - errors} warning(s)",
        file=sys.stderr,
    )
    return EXIT_USER if errors else EXIT_OK


def _run_inspect(args: argparse.Namespace) -> int:
    from .analyze import analyze_file, check_target
    from .diagnostics import format_diagnostics
    from .graph import build_graph, render_mermaid, render_text

    file, _, name = args.target.partition(":")
    path = Path(file)
    if not path.is_file():
        raise CompileError("no such file", path=path)
    ir = analyze_file(path)
    modules = [m.name for m in ir.modules]
    if not modules:
        raise CompileError("no castlm.Module subclass found", path=path)
    chosen = name or modules[-1]
    problems = [d for d in (*ir.diagnostics, *check_target(ir, chosen)) if d.is_error]
    if problems:
        raise CompileError("the program has errors:\n" + format_diagnostics(problems))
    graph = build_graph(ir, chosen)
    if args.format in ("text", "both"):
        print(render_text(graph))
    if args.format in ("mermaid", "both"):
        print(
            "```mermaid\n" + render_mermaid(graph) + "\n```"
            if args.format == "both"
            else render_mermaid(graph)
        )
    return EXIT_OK


def _run_eval(args: argparse.Namespace) -> int:
    from .eval_report import Gates, print_summary, summary
    from .eval_run import EvalOptions, prepare, run
    from .report import CliProgress

    targets = [args.target, *([args.other] if args.other else [])]
    if args.fail_if_worse_than is not None:
        if args.other is not None and args.other != args.fail_if_worse_than:
            raise CompileError(
                f"--fail-if-worse-than {args.fail_if_worse_than} names another target than "
                f"{args.other}; give the one to compare with once"
            )
        targets = [args.target, args.fail_if_worse_than]
    if args.threads < 1 or not 0 < args.alpha < 1:
        raise CompileError("--threads must be at least 1 and --alpha between 0 and 1")
    options = EvalOptions(
        data=Path(args.data).resolve(),
        metric=args.metric,
        lm=args.lm,
        base_url=args.base_url,
        lm_settings=dict(_parse_setting(text, "lm_settings") for text in args.lm_setting),
        threads=args.threads,
        cache=not args.no_cache,
    )
    metric, loaded = prepare(targets, options)  # every mistake before the first LM call
    progress = CliProgress(_console(stderr=True), enabled=not args.json)
    runs = [run(target, metric, args.threads, progress) for target in loaded]
    gates = Gates(args.fail_under, args.fail_if_worse_than is not None, args.alpha)
    data = summary(runs, gates)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print_summary(_console(), data)
    for failure in data["failures"]:
        _console(stderr=True).print(f"[bold red]failed:[/] {_escape(failure)}", highlight=False)
    return EXIT_USER if data["failures"] else EXIT_OK


def _run_verify(args: argparse.Namespace) -> int:
    from .verify_run import verify_folder

    report = verify_folder(Path(args.out), lm_name=args.lm)
    checkers = "mypy --strict" if report.pyright_errors is None else "mypy --strict, pyright strict"
    print(f"{args.out}: verified ({checkers}, isolated import, parity with the compile)")
    return EXIT_OK


def _run_diff(args: argparse.Namespace) -> int:
    from .diff import diff_builds
    from .diff_text import render

    data = diff_builds(Path(args.old), Path(args.new))
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        sys.stdout.write(render(data))
    return EXIT_OK if data["identical"] else EXIT_DIFFERENT


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    # soft_wrap: messages carry paths and file:line locations that must stay on one line.
    return Console(stderr=stderr, soft_wrap=True)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


if __name__ == "__main__":
    sys.exit(main())
