"""What an emitted package's ``_runtime/`` weighs, by the job each file does.

    .venv/bin/python benchmarks/runtime_size.py examples/triage/build/triage_bot/triage_bot

Each file is counted twice: as vendored (docstrings and comments kept, what the package
ships) and as code only (docstrings, comments and blank lines removed; the comments that
tools read, ``# type: ignore`` and the like, kept). The second column is a floor for the
code itself: no formatting choice can take a group below it. The footprint benchmark
(bench_footprint.py) prints the same table into RESULTS.md.
"""

from __future__ import annotations

import ast
import io
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

# Comments a tool reads: removing them would change what the type checkers or linters say.
_PRAGMAS = ("type:", "noqa", "pyright:", "pragma", "fmt:", "mypy:")

# (group, the issue that asks every package to have it, the runtime paths it holds). A path
# ending in "/" holds a folder's other files: a file named exactly belongs to its group.
GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "typed program: signatures, fields, adapters, predictors, modules, errors",
        "#2",
        (
            "__init__.py",
            "base/",
            "core/__init__.py",
            "core/_signature.py",
            "core/_adapter.py",
            "core/_adapter_protocol.py",
            "core/_predict.py",
            "core/_module.py",
            "core/_context.py",
            "core/_results.py",
            "core/_example.py",
            "core/_concurrency.py",
            "core/_cut_off.py",
            "core/_aforward.py",
        ),
    ),
    (
        "one OpenAI-compatible LM: sync and async clients, retries, deadlines, keys, "
        "settings, load()",
        "#2, #9, #10, #11",
        (
            "lm/__init__.py",
            "lm/_lm.py",
            "lm/_openai.py",
            "lm/_aio_client.py",
            "lm/_retry.py",
            "lm/_lm_settings.py",
            "lm/_lm_config.py",
            "lm/_lm_factory.py",
            "base/_deadline.py",
            "base/_keys.py",
            "base/_structured.py",
        ),
    ),
    (
        "streaming: SSE, fields as they arrive, whole programs",
        "#4, #14",
        ("lm/_sse.py", "core/_stream.py", "core/_fields_reader.py", "core/_program_stream.py"),
    ),
    ("batch and abatch", "#4", ("core/_batch.py",)),
    (
        "circuit breaker and rate limiter",
        "#4",
        ("lm/_breaker.py", "lm/_ratelimit.py", "lm/_gate.py"),
    ),
    ("response cache", "#4", ("lm/_cache.py",)),
    ("usage and cost", "#4", ("observe/__init__.py", "observe/_usage.py", "observe/_pricing.py")),
    ("tracing", "#4, #15", ("observe/_instrument.py", "observe/_otel.py", "observe/_tool_span.py")),
    ("guards and audit", "#4", ("observe/_guards.py",)),
    ("offline stand-in (testing/)", "#11", ("testing/",)),
)
OTHER = "parts only some programs vendor (agents, tools, KNN, retrieval, litellm, ...)"


@dataclass
class Weight:
    """Bytes of one group: as vendored, and code only."""

    group: str
    issue: str
    files: int = 0
    vendored: int = 0
    code: int = 0


def code_only(source: str) -> str:
    """``source`` without docstrings, comments (but pragmas) and blank lines."""
    docstrings = _docstring_lines(ast.parse(source))
    kept: dict[int, str] = {}
    lines = source.splitlines()
    comments: dict[int, int] = {}  # line -> column where a comment to drop starts
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT and not _is_pragma(token.string):
            comments[token.start[0]] = token.start[1]
    for number, line in enumerate(lines, start=1):
        if number in docstrings:
            continue
        text = line[: comments[number]] if number in comments else line
        if text.strip():
            kept[number] = text.rstrip()
    return "".join(f"{text}\n" for text in kept.values())


def _is_pragma(comment: str) -> bool:
    return comment.lstrip("#").strip().startswith(_PRAGMAS)


def _docstring_lines(tree: ast.Module) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        first = node.body[0] if node.body else None
        if (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
            and first.end_lineno is not None
            and len(node.body) > 1  # a docstring that is the whole body stays: it is code
        ):
            found.update(range(first.lineno, first.end_lineno + 1))
    return found


def group_of(path: str) -> tuple[str, str]:
    for name, issue, members in GROUPS:
        if path in members:
            return name, issue
    for name, issue, members in GROUPS:
        if any(m.endswith("/") and path.startswith(m) for m in members):
            return name, issue
    return OTHER, ""


def weigh(runtime: Path) -> list[Weight]:
    """The groups of the ``.py`` files under ``runtime`` (a package's ``_runtime``), in
    GROUPS order, empty ones left out."""
    weights = {name: Weight(name, issue) for name, issue, _ in GROUPS}
    weights[OTHER] = Weight(OTHER, "")
    for path in sorted(runtime.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        weight = weights[group_of(path.relative_to(runtime).as_posix())[0]]
        weight.files += 1
        weight.vendored += len(source.encode())
        weight.code += len(code_only(source).encode())
    return [w for w in weights.values() if w.files]


def markdown(weights: list[Weight]) -> str:
    rows = [
        "| what | asked for by | files | vendored kB | code only kB | running total, code only |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    total = 0
    for w in weights:
        total += w.code
        rows.append(
            f"| {w.group} | {w.issue} | {w.files} | {w.vendored / 1000:.1f} | "
            f"{w.code / 1000:.1f} | {total / 1000:.1f} |"
        )
    files = sum(w.files for w in weights)
    vendored = sum(w.vendored for w in weights)
    rows.append(f"| all | | {files} | {vendored / 1000:.1f} | {total / 1000:.1f} | |")
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    package = Path(argv[0])
    runtime = package / "_runtime" if (package / "_runtime").is_dir() else package
    if not (runtime / "__init__.py").is_file():
        print(f"{argv[0]}: no _runtime/ here (give an emitted package's folder)", file=sys.stderr)
        return 2
    print(markdown(weigh(runtime)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
