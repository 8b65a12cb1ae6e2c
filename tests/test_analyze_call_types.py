"""castlm check: input value types at predictor calls (CL208) and keywords of the program's
own module calls (CL209)."""

from __future__ import annotations

import textwrap

from castlm.compiler.analyze import analyze_source

HEADER = """
from typing import Literal, Optional
import castlm as cl

class Ask(cl.Signature):
    question: str = cl.InputField()
    level: int = cl.InputField(default=1)
    weight: float = cl.InputField(default=1.0)
    tone: Literal["formal", "casual"] = cl.InputField(default="formal")
    note: Optional[str] = cl.InputField(default=None)
    tags: list[str] = cl.InputField(default=[])
    answer: str = cl.OutputField()
"""


def diagnostics(source: str) -> list[tuple[str, int, str]]:
    program = analyze_source(HEADER + textwrap.dedent(source), "app.py")
    return [(d.code, d.line, d.message) for d in program.diagnostics]


def codes(source: str) -> list[str]:
    return [code for code, _, _ in diagnostics(source)]


def bot(call: str, params: str = "question: str, count: int") -> str:
    return f"""
class Bot(cl.Module):
    def __init__(self):
        self.ask = cl.Predict(Ask)

    def forward(self, {params}):
        return self.ask({call})
"""


def test_a_literal_of_the_wrong_type_is_reported_at_the_value() -> None:
    found = diagnostics(bot('question=question, level="high"'))
    assert [(c, line) for c, line, _ in found] == [("CL208", 19)]
    assert (
        "input field 'level' of signature 'Ask' is int, but this value is str ('high')"
        in (found[0][2])
    )


def test_a_parameter_of_the_wrong_builtin_type_is_reported() -> None:
    assert codes(bot("question=count")) == ["CL208"]


def test_values_the_field_accepts_are_not_reported() -> None:
    calls = [
        "question=question, level=count, weight=count, note=None",
        'question="q", level=True, weight=2, tone="casual", tags=["a"]',
        'question=f"{count}", note=question',
    ]
    for call in calls:
        assert codes(bot(call)) == [], call


def test_a_literal_outside_a_literal_field_is_reported() -> None:
    assert codes(bot('question=question, tone="rude"')) == ["CL208"]
    assert codes(bot("question=question, tags={}")) == ["CL208"]
    assert codes(bot("question=None")) == ["CL208"]


def test_values_whose_type_castlm_cannot_see_are_left_to_type_checkers() -> None:
    assert codes(bot("question=question.upper(), level=len(question)")) == []
    assert codes(bot("question=q", params="q")) == []  # no annotation
    rebound = """
class Bot(cl.Module):
    def __init__(self):
        self.ask = cl.Predict(Ask)

    def forward(self, question: str, count: int):
        count = str(count)
        return self.ask(question=count)
"""
    assert codes(rebound) == []


APP = """
class Inner(cl.Module):
    def __init__(self):
        self.ask = cl.Predict(Ask)

    def forward(self, question: str, *, level: int = 1):
        return self.ask(question=question, level=level)


class Loose(cl.Module):
    def __init__(self):
        self.ask = cl.Predict(Ask)

    def forward(self, **kwargs: str):
        return self.ask(question=kwargs["q"])


class App(cl.Module):
    def __init__(self):
        self.inner = Inner()
        self.loose = Loose()

    async def forward(self, question: str):
{calls}
"""


def app(*calls: str) -> str:
    return APP.format(calls="\n".join(f"        {c}" for c in calls))


def test_a_misspelled_keyword_to_an_own_module_is_reported_with_a_suggestion() -> None:
    found = diagnostics(app("self.inner(questoin=question)"))
    assert [c for c, _, _ in found] == ["CL209"]
    assert "unknown keyword 'questoin' in call to module 'self.inner' (Inner)" in found[0][2]


def test_forward_and_acall_of_an_own_module_are_checked_too() -> None:
    calls = ("self.inner.forward(question=question, levle=2)", "await self.inner.acall(lvl=2)")
    assert codes(app(*calls)) == ["CL209", "CL209"]


def test_valid_module_calls_and_kwargs_forwards_are_not_reported() -> None:
    calls = (
        "self.inner(question, level=2)",
        "await self.inner.acall(question=question)",
        "self.loose(anything=question)",
    )
    assert codes(app(*calls)) == []
