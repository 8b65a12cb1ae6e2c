"""Preflight: the checks that need no LM, run before the plan is printed or any LM call.

A mistake found after the first LM call wastes what was spent, so everything that can be
checked up front is: the program, metric and dataset files exist and are regular files of a
known format and a bounded size, the package name can be imported, and the output folder
can be written and replaced (it is not the project, it holds nothing castlm did not write,
see emit/owned.py). Problems are collected and reported together, each at the config line
(or the flag) that set the value.
"""

from __future__ import annotations

import importlib.util
import keyword
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from . import teacher_package
from .config import ProgramConfig, Target
from .data import DATASET_SUFFIXES, MAX_DATASET_BYTES
from .emit.owned import replace_refusal
from .errors import CompileError
from .optimizers import finetune_export
from .optimizers.finetune import MULTITASK_FILE

WORK_DIR = ".castlm"  # the project's cache and optimizer state


def preflight(configs: Sequence[ProgramConfig]) -> None:
    """Raise one CompileError naming every problem found in ``configs``, if any."""
    problems = [p for config in configs for p in _problems(config)]
    problems += _shared_outputs(configs)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        listing = "\n".join(f"  {p}" for p in problems)
        raise CompileError(f"{len(problems)} problems, found before any LM call:\n{listing}")


def _problems(config: ProgramConfig) -> list[CompileError]:
    checks = (
        _sources(config),
        _datasets(config),
        _package(config),
        _output(config),
        _work_dir(config),
        _export(config),
        _teacher(config),
        _mlflow(config),
    )
    return [problem for check in checks for problem in check]


def _sources(config: ProgramConfig) -> Iterator[CompileError]:
    targets = [("program", config.program)]
    if isinstance(config.metric, Target):
        targets.append(("metric", config.metric))
    for key, target in targets:
        if not target.path.is_file():
            what = "does not exist" if not target.path.exists() else "is not a file"
            yield _at(config, key, f"the {key} file {target.path} {what}")


def _datasets(config: ProgramConfig) -> Iterator[CompileError]:
    for key, path in (("train", config.train), ("dev", config.dev)):
        if path is None:
            continue
        problem = _dataset_problem(path)
        if problem is not None:
            yield _at(config, key, f"the {key} dataset {path} {problem}")


def _dataset_problem(path: Path) -> str | None:
    if not path.exists():
        return "does not exist"
    if not path.is_file():  # a folder, a device such as /dev/zero, a pipe
        return "is not a regular file"
    if path.suffix.lower() not in DATASET_SUFFIXES:
        return "has an unknown format; use .jsonl, .json or .csv"
    size = path.stat().st_size
    if size > MAX_DATASET_BYTES:
        return (
            f"is {size / 2**20:.0f} MiB, more than the {MAX_DATASET_BYTES // 2**20} MiB a "
            f"dataset may have; sample it down (a compile needs tens to thousands of rows)"
        )
    return None


def _package(config: ProgramConfig) -> Iterator[CompileError]:
    name = config.package
    reason = None
    if keyword.iskeyword(name):
        reason = "is a Python keyword, so `import` cannot name it"
    elif name in sys.stdlib_module_names:
        reason = f"would hide the standard library's {name!r} module"
    elif name == "castlm":
        reason = "would hide castlm itself"
    if reason:
        yield _at(config, "package", f"package name {name!r} {reason}; choose another name")


def _output(config: ProgramConfig) -> Iterator[CompileError]:
    out = config.out
    if out == out.parent:
        yield _at(config, "out", f"the output folder cannot be {out}; pass a folder of its own")
        return
    inputs = [("project folder", config.project_dir), ("program", config.program.path)]
    inputs += [(k, p) for k, p in (("train", config.train), ("dev", config.dev)) if p]
    inputs += [("config", config.config_file)] if config.config_file else []
    inside = [(what, p) for what, p in inputs if p.resolve().is_relative_to(out)]
    if inside:
        what, path = inside[0]
        relation = f"is the {what}" if path == out else f"holds the {what} {path}"
        yield _at(
            config,
            "out",
            f"the output folder {out} {relation}, and castlm replaces the whole output "
            f"folder; pass a folder of its own, e.g. build/{config.package}",
        )
        return
    refusal = replace_refusal(out)
    if refusal is not None:
        yield _at(config, "out", refusal)
        return
    problem = _unwritable(out.parent)
    if problem is not None:
        yield _at(config, "out", problem)


def _work_dir(config: ProgramConfig) -> Iterator[CompileError]:
    work = config.project_dir / WORK_DIR
    if work.exists() and not work.is_dir():
        yield CompileError(
            "castlm keeps its cache and optimizer state in this folder, but it is a file; "
            "move the file away",
            path=work,
        )


def _teacher(config: ProgramConfig) -> Iterator[CompileError]:
    """The teacher program's file, or the teacher package's folder (not loaded here)."""
    teacher = config.teacher
    if isinstance(teacher, Target):
        if not teacher.path.is_file():
            what = "does not exist" if not teacher.path.exists() else "is not a file"
            yield _at(config, "teacher", f"the teacher file {teacher.path} {what}")
        return
    if teacher is None:
        return
    found = teacher_package.find(teacher)
    if isinstance(found, str):
        yield _at(config, "teacher", f"the teacher {teacher} {found}")
    elif found.folder.resolve().is_relative_to(config.out):
        yield _at(
            config,
            "teacher",
            f"the teacher {teacher} is inside this compile's output folder {config.out}, "
            f"which the compile replaces; copy the package elsewhere (e.g. build/teacher) and "
            f"point teacher at the copy",
        )


def _export(config: ProgramConfig) -> Iterator[CompileError]:
    """finetune's ``export_path``, where the file names are known before the run."""
    text = config.optimizer_options.get("export_path")
    if config.optimizer != "finetune" or not isinstance(text, str):
        return
    path = finetune_export.export_path(text)
    if path.suffix != ".jsonl":
        if path.exists() and not path.is_dir():
            message = f"finetune: export_path {path} is not a folder"
            yield _at(config, "export_path", message, option=True)
            return
        if not config.optimizer_options.get("multitask", True):
            return  # one file per predictor: their names are checked when they are written
        path = path / f"{MULTITASK_FILE}.jsonl"
    problem = finetune_export.refusal(path, config.project_dir / WORK_DIR)
    if problem is not None:
        yield _at(config, "export_path", problem, option=True)


def _unwritable(folder: Path) -> str | None:
    """Why no folder can be created in ``folder`` (or its nearest existing parent)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"cannot create the output folder: {existing} is a file"
    try:  # a real attempt: permissions, read-only mounts and quotas all show here
        os.rmdir(tempfile.mkdtemp(prefix=".castlm-probe-", dir=existing))
    except OSError as exc:
        return f"cannot write the output folder in {existing}: {exc.strerror or exc}"
    return None


def _shared_outputs(configs: Sequence[ProgramConfig]) -> list[CompileError]:
    problems = []
    for i, first in enumerate(configs):
        for second in configs[i + 1 :]:
            a, b = first.out, second.out
            if a == b or a.is_relative_to(b) or b.is_relative_to(a):
                problems.append(
                    _at(
                        second,
                        "out",
                        f"packages {first.package!r} and {second.package!r} both write to {a}"
                        f"{'' if a == b else f' and {b}'}; give each program an output folder "
                        f"of its own",
                    )
                )
    return problems


#: Said here and by mlflow_run.py, which imports this module (not the other way round).
MLFLOW_MISSING = "logging to MLflow needs the mlflow package: pip install 'castlm[mlflow]'"


def _mlflow(config: ProgramConfig) -> Iterator[CompileError]:
    if config.mlflow is not None and importlib.util.find_spec("mlflow") is None:
        yield _at(config, "mlflow", MLFLOW_MISSING)


def at_setting(config: ProgramConfig, key: str, message: str) -> CompileError:
    """A CompileError at the config line, or the flag, that set ``key``."""
    return _at(config, key, message)


def _at(config: ProgramConfig, key: str, message: str, *, option: bool = False) -> CompileError:
    """A CompileError at the config line that sets ``key`` (an optimizer option when
    ``option``), or naming the flag that set it."""
    file = config.config_file
    if file is None or ("optimizer_options" if option else key) in config.flags:
        if key == "program":  # the PROGRAM.py:Class argument; the message names the file
            return CompileError(message)
        flag = f"--option {key}" if option else f"--{key.replace('_', '-')}"
        return CompileError(message, path=flag)
    return CompileError(message, path=file, line=_line_of(file, key))


def _line_of(file: Path, key: str) -> int | None:
    """The line of ``key = ...``, or of its table's header (``[key]``, ``[tool.castlm.key]``)."""
    name = re.escape(key)
    pattern = re.compile(rf"\s*(?:{name}\s*=|\[\s*(?:tool\.castlm\.)?{name}\s*\])")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, ValueError):
        return None
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line):
            return number
    return None
