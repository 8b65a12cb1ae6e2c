"""castlm's side of one benchmark run: compile with the CLI, then score the emitted package.

Runs in the project's virtualenv. ``castlm compile`` builds a package the way a user does (the
CLI, a castlm.toml, verification on); the dev rows are then run through the package's own
``run`` with the compile's LM cache, so scoring it costs no LM calls beyond the compile's and
every parse failure a user would see is counted. Prints one JSON line.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from suite import OPTIMIZERS, TASKS, Task, child_args, summary

PACKAGE = "bench_pkg"


def write_project(task: Task, optimizer: str, base_url: str, folder: Path) -> None:
    folder.mkdir(parents=True)
    shutil.copy(task.folder / "program.py", folder / "program.py")
    for split in ("train", "dev"):
        lines = [json.dumps(row) for row in task.rows(split)]
        (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    # zero-shot: the labeled optimizer with no demos emits the unoptimized program.
    name, options = ("labeled", {"k": 0}) if optimizer == "zero-shot" else (optimizer, {})
    options = {**OPTIMIZERS[optimizer], **options}
    lines = [
        f'program = "{task.program}"',
        f'metric = "{task.metric}"',
        'train = "train.jsonl"',
        'dev = "dev.jsonl"',
        f'optimizer = "{name}"',
        'lm = "openai/smollm2"',
        f'base_url = "{base_url}"',
        "threads = 2",
        f'package = "{PACKAGE}"',
        'out = "build/bench_pkg"',
        "",
        "[lm_settings]",
        "temperature = 0",
        f"max_tokens = {task.max_tokens}",
        "",
        "[optimizer_options]",
        *(f"{k} = {json.dumps(v)}" for k, v in options.items()),
    ]
    (folder / "castlm.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def compile_project(folder: Path) -> dict[str, Any]:
    castlm = Path(sys.executable).with_name("castlm")
    proc = subprocess.run(
        # Verification replays the dev set from the cache (no LM calls, no effect on scores);
        # it is left out here to keep the run short on a 2-core machine.
        [str(castlm), "compile", str(folder), "--json", "--no-verify"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "CASTLM_API_KEY": "unused-by-llama-cpp"},
    )
    if proc.returncode != 0:
        raise SystemExit(f"castlm compile failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    compiled: dict[str, Any] = json.loads(proc.stdout)
    return compiled


def score_package(task: Task, folder: Path, base_url: str) -> dict[str, Any]:
    """Run the dev rows through the emitted package, replaying the compile's cache."""
    os.environ["CASTLM_CACHE_DIR"] = str(folder / ".castlm")
    os.environ["CASTLM_BASE_URL"] = base_url
    sys.path.insert(0, str(folder / "build" / "bench_pkg"))
    package = importlib.import_module(PACKAGE)
    from bench_pkg._runtime import LMError, ParseError  # the package's own runtime

    scores, parse_failures, errors = [], 0, 0
    for row in task.rows("dev"):
        inputs = {k: row[k] for k in task.inputs}
        try:
            prediction = package.run(**inputs)
        except ParseError:
            parse_failures += 1
            scores.append(0.0)
            continue
        except LMError:
            errors += 1
            scores.append(0.0)
            continue
        got = {k: _plain(getattr(prediction, k)) for k in task.outputs}
        scores.append(task.score(row, got))
    return summary(scores, parse_failures, errors)


def _plain(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    return dump(mode="json") if callable(dump) else getattr(value, "value", value)


def main() -> None:
    args = child_args()
    task = TASKS[args.task]
    folder = args.workdir / "project"
    write_project(task, args.optimizer, args.base_url, folder)
    start = time.perf_counter()
    compiled = compile_project(folder)
    seconds = time.perf_counter() - start
    result = score_package(task, folder, args.base_url)
    result.update(
        seconds=seconds,
        compile_scores=compiled.get("scores"),
        settings=_settings(folder),
    )
    print(json.dumps(result))


def _settings(folder: Path) -> Any:
    manifest = folder / "build" / "bench_pkg" / PACKAGE / "manifest.json"
    return json.loads(manifest.read_text(encoding="utf-8")).get("lm_settings")


if __name__ == "__main__":
    main()
