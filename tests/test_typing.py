"""What mypy and pyright see: predictor and module calls are typed end to end.

tests/typing_probe/program.py holds eight mistakes, each on a line marked ``# MISTAKE``;
both checkers must report an error on exactly those lines.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from castlm.compiler.analyze import analyze_file
from mypy import api

PROBE = Path(__file__).parent / "typing_probe" / "program.py"
PYRIGHT = shutil.which("pyright", path=str(Path(sys.executable).parent))


# The mistakes `castlm check` sees without a type checker (the other two need types).
CHECK_SEES = {
    "misspelled input",
    "wrong input type",
    "missing input",
    "misspelled output",
    "misspelled keyword on a module call",
    "misspelled keyword on forward",
}


def marked_lines(path: Path, only: set[str] | None = None) -> set[int]:
    found: set[int] = set()
    for n, line in enumerate(path.read_text().splitlines(), 1):
        match = re.search(r"\S  # MISTAKE: (.+)$", line)
        if match and (only is None or match.group(1) in only):
            found.add(n)
    return found


def mypy_error_lines(path: Path, cache: Path) -> set[int]:
    out, _err, _status = api.run(
        ["--strict", "--no-incremental", "--cache-dir", str(cache), str(path)]
    )
    return {int(m.group(1)) for m in re.finditer(r"^[^:\n]+:(\d+): error:", out, re.M)}


def pyright_errors(target: Path, workdir: Path) -> list[dict[str, object]]:
    """pyright in strict mode on ``target``, as its JSON diagnostics (errors only)."""
    assert PYRIGHT is not None
    config = workdir / "pyrightconfig.json"
    config.write_text(json.dumps({"typeCheckingMode": "strict"}))
    proc = subprocess.run(
        [PYRIGHT, "--outputjson", "--pythonpath", sys.executable, "-p", str(config), str(target)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=workdir,
    )
    report = json.loads(proc.stdout)
    return [d for d in report["generalDiagnostics"] if d["severity"] == "error"]


def test_probe_mistakes_are_mypy_errors_on_exactly_the_marked_lines(tmp_path: Path) -> None:
    expected = marked_lines(PROBE)
    assert len(expected) == 8
    assert mypy_error_lines(PROBE, tmp_path / ".mypy") == expected


def test_castlm_check_reports_the_mistakes_it_can_see(tmp_path: Path) -> None:
    program = analyze_file(PROBE)
    lines = {d.line for d in program.diagnostics if d.severity == "error"}
    assert lines == marked_lines(PROBE, CHECK_SEES)
    assert len(lines) == 6


@pytest.mark.skipif(PYRIGHT is None, reason="pyright is not installed (pip install -e '.[dev]')")
def test_probe_mistakes_are_pyright_strict_errors_on_exactly_the_marked_lines(
    tmp_path: Path,
) -> None:
    target = tmp_path / "program.py"
    shutil.copy(PROBE, target)
    errors = pyright_errors(target, tmp_path)
    lines = {int(e["range"]["start"]["line"]) + 1 for e in errors}  # type: ignore[index]
    assert lines == marked_lines(PROBE), errors


PROGRAM = '''
from typing import Literal
import castlm as cl

class Triage(cl.Signature):
    """Route the ticket."""
    ticket: str = cl.InputField()
    category: Literal["billing", "bug"] = cl.OutputField()
    urgent: bool = cl.OutputField()

class Bot(cl.Module):
    def __init__(self) -> None:
        self.route = cl.ChainOfThought(Triage)

    def forward(self, ticket: str) -> Triage:
        return self.route(ticket=ticket)

def use(bot: Bot) -> None:
    result = bot.forward("x")
    flag: bool = result.urgent
    label: Literal["billing", "bug"] = result.category
    print(flag, label)
    print(result.categroy)
    wrong: int = result.category
'''


def test_outputs_are_typed_and_misspellings_are_mypy_errors(tmp_path: Path) -> None:
    source = tmp_path / "program.py"
    source.write_text(PROGRAM)
    out, _err, status = api.run(
        ["--strict", "--no-incremental", "--cache-dir", str(tmp_path / ".mypy"), str(source)]
    )
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert status == 1
    assert len(errors) == 2, out
    assert '"Triage" has no attribute "categroy"' in errors[0]
    assert "Incompatible types in assignment" in errors[1]


EXTRAS = """
import castlm as cl

class Ask(cl.Signature):
    question: str = cl.InputField()
    answer: str = cl.OutputField()

class Bot(cl.Module):
    def __init__(self) -> None:
        self.think = cl.ChainOfThought(Ask)
        self.plain = cl.Predict(Ask)
        self.agent = cl.ReAct(Ask, tools=[])

    def forward(self, question: str) -> Ask:
        thought = self.think(question=question)
        why: str = thought.reasoning
        acted = self.agent(question=question)
        steps: str = acted.trajectory
        print(why, steps, acted.reasoning, thought.answer, acted.answer)
        print(self.plain(question=question).reasoning)  # MISTAKE: Predict adds no reasoning
        return thought

    async def aforward(self, question: str) -> Ask:
        thought = await self.think.acall(question=question)
        print(thought.reasoning)
        return thought
"""


def test_the_mypy_plugin_types_reasoning_and_trajectory(tmp_path: Path) -> None:
    source = tmp_path / "extras.py"
    source.write_text(EXTRAS)
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\nplugins = castlm.compiler.mypy_plugin\n")
    out, _err, _status = api.run(
        ["--strict", "--no-incremental", "--config-file", str(config), str(source)]
    )
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert len(errors) == 1, out
    assert f"extras.py:{min(marked_lines(source))}:" in errors[0]
    assert 'has no attribute "reasoning"' in errors[0]


BATCHES = """
import castlm as cl

class Ask(cl.Signature):
    question: str = cl.InputField()
    answer: str = cl.OutputField()

class Bot(cl.Module):
    def __init__(self) -> None:
        self.ask = cl.Predict(Ask)

    def forward(self, question: str) -> Ask:
        return self.ask(question=question)

async def use(bot: Bot) -> None:
    answers: list[Ask] = bot.batch([{"question": "q"}]).values()
    later: list[Ask] = (await bot.abatch([{"question": "q"}])).values()
    one: Ask = await bot.acall(question="q")
    print(answers, later, one)
    wrong: list[int] = bot.batch([{"question": "q"}]).values()  # MISTAKE: not ints
    print(wrong, (await bot.acall(question="q")).answr)  # MISTAKE: no such output
"""


def test_batch_and_acall_results_are_typed_as_forward_returns(tmp_path: Path) -> None:
    source = tmp_path / "batches.py"
    source.write_text(BATCHES)
    assert mypy_error_lines(source, tmp_path / ".mypy") == marked_lines(source)


# Without a plugin (pyright; mypy without castlm's plugin): a declared `reasoning` field is an
# attribute like any output, and reasoning_of/trajectory_of read what a module adds, as str.
NO_PLUGIN = """
import castlm as cl

class Ask(cl.Signature):
    question: str = cl.InputField()
    answer: str = cl.OutputField()

class Think(cl.Signature):
    question: str = cl.InputField()
    reasoning: str = cl.OutputField()
    answer: str = cl.OutputField()

class Bot(cl.Module):
    def __init__(self) -> None:
        self.think = cl.ChainOfThought(Think)
        self.cot = cl.ChainOfThought(Ask)
        self.agent = cl.ReAct(Ask, tools=[])

    def forward(self, question: str) -> str:
        thought = self.think(question=question)
        why: str = thought.reasoning
        also: str = cl.reasoning_of(self.cot(question=question))
        acted = self.agent(question=question)
        steps: str = cl.trajectory_of(acted)
        last: str = cl.reasoning_of(acted)
        count: int = cl.reasoning_of(acted)  # MISTAKE: reasoning is a str
        print(thought.reasonin)  # MISTAKE: misspelled reasoning
        return why + also + steps + last + str(count)
"""


@pytest.mark.skipif(PYRIGHT is None, reason="pyright is not installed (pip install -e '.[dev]')")
def test_pyright_strict_reads_reasoning_and_trajectory_without_a_plugin(tmp_path: Path) -> None:
    source = tmp_path / "no_plugin.py"
    source.write_text(NO_PLUGIN)
    errors = pyright_errors(source, tmp_path)
    lines = {int(e["range"]["start"]["line"]) + 1 for e in errors}  # type: ignore[index]
    assert lines == marked_lines(source), errors


def test_mypy_without_the_plugin_reads_reasoning_and_trajectory(tmp_path: Path) -> None:
    source = tmp_path / "no_plugin.py"
    source.write_text(NO_PLUGIN)
    assert mypy_error_lines(source, tmp_path / ".mypy") == marked_lines(source)
