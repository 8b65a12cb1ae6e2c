"""What mypy sees: predictor results carry the signature's declared output types."""

from __future__ import annotations

from pathlib import Path

from mypy import api

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
