"""Checks the golden cases do not pin down: edge cases of each visitor and check."""

from __future__ import annotations

import textwrap

from castlm.compiler.analyze import analyze_source

HEADER = """
import castlm as cl

class Ask(cl.Signature):
    question: str = cl.InputField()
    answer: str = cl.OutputField()
"""


def codes(source: str, header: str = HEADER) -> list[str]:
    program = analyze_source(header + textwrap.dedent(source), "app.py")
    return [d.code for d in program.diagnostics]


def bot(forward_body: str, init: str = "self.ask = cl.Predict(Ask)") -> str:
    body = textwrap.indent(textwrap.dedent(forward_body).strip(), " " * 8)
    return f"""
class Bot(cl.Module):
    def __init__(self):
        {init}

    def forward(self, question: str):
{body}
"""


def test_branch_assignments_do_not_cause_false_attribute_errors() -> None:
    source = bot(
        """
        if question:
            r = self.ask(question=question)
        else:
            r = question
        return r.upper()
        """
    )
    assert codes(source) == []


def test_reassignment_at_top_level_replaces_the_binding() -> None:
    source = bot(
        """
        r = self.ask(question=question)
        r = question
        return r.upper()
        """
    )
    assert codes(source) == []


def test_result_read_through_alias_variable_is_checked() -> None:
    source = bot(
        """
        r = self.ask(question=question)
        same = r
        return same.anwser
        """
    )
    assert codes(source) == ["CL203"]


def test_predictor_bound_to_a_variable_is_checked() -> None:
    source = bot(
        """
        p = self.ask
        return p(question=question, extra=1).answer
        """
    )
    assert codes(source) == ["CL201"]


def test_walrus_and_comprehension_reads_are_checked() -> None:
    source = bot(
        """
        if (r := self.ask(question=question)).answer:
            return [x.answr for x in [r]] + [r.answr]
        """
    )
    assert codes(source) == ["CL203"]


def test_double_star_call_skips_missing_and_unknown_checks() -> None:
    assert codes(bot("return self.ask(**{'question': question})")) == []


def test_misspelled_keyword_is_not_also_reported_as_missing() -> None:
    assert codes(bot("return self.ask(questoin=question)")) == ["CL201"]


def test_predictor_created_in_nested_expression_in_forward() -> None:
    assert codes(bot("return [cl.Predict(Ask) for _ in range(2)]")) == ["CL204"]


def test_imported_signature_is_not_checked() -> None:
    header = "import castlm as cl\nfrom sigs import Ask\n"
    assert codes(bot("return self.ask(nonsense=1).whatever"), header) == []


def test_star_import_silences_unknown_signature_but_not_unknown_type() -> None:
    header = "import castlm as cl\nfrom sigs import *\n"
    source = """
class Local(cl.Signature):
    question: Mystery = cl.InputField()
    answer: str = cl.OutputField()
""" + bot("return self.ask(question=question)", "self.ask = cl.Predict(FromStar)")
    assert codes(source, header) == ["CL107"]


def test_signature_with_external_mixin_is_not_required_to_have_fields() -> None:
    header = "import castlm as cl\nfrom mixins import Mixin\n"
    source = """
class Partial(cl.Signature, Mixin):
    question: str = cl.InputField()
"""
    assert codes(source, header) == []


def test_class_var_nested_class_and_methods_are_not_fields() -> None:
    source = """
from typing import ClassVar
import typing

class Sig(cl.Signature):
    question: str = cl.InputField()
    answer: str = cl.OutputField()
    version: ClassVar[int] = 1
    other: typing.ClassVar[str] = "x"

    class Config:
        extra: str

    def method(self) -> None:
        local: int = 1
"""
    assert codes(source) == []


def test_type_spellings_through_typing_module_and_aliases() -> None:
    source = """
import typing as t
from typing import Dict, Text

class Sig(cl.Signature):
    a: t.Optional[t.List[str]] = cl.InputField()
    b: Dict[Text, int] = cl.InputField()
    c: t.Any = cl.OutputField()
    d: "not ( valid" = cl.OutputField()
    e: t.Mapping[str, int] = cl.OutputField()
"""
    assert codes(source) == ["CL106", "CL106", "CL106"]


def test_cycles_in_modules_and_signatures_terminate() -> None:
    source = """
class A(cl.Module):
    def __init__(self):
        self.b = B()
        self.p = cl.Predict(Ask)

class B(cl.Module):
    def __init__(self):
        self.a = A()

class S1(S2):
    x: str = cl.InputField()

class S2(S1):
    y: str = cl.OutputField()
"""
    program = analyze_source(HEADER + source, "app.py")
    module_a = program.module("A")
    assert module_a is not None
    # The runtime would recurse forever; the analyzer just stops at the cycle.
    assert [p.path for p in module_a.predictors] == ["p"]


def test_unparsable_annotation_string_is_reported_at_the_string() -> None:
    program = analyze_source(
        HEADER + "\nclass Sig(cl.Signature):\n    q: 'list[' = cl.InputField()\n", "app.py"
    )
    (problem,) = [d for d in program.diagnostics if d.code == "CL106"]
    assert (problem.line, problem.col) == (9, 8)


def test_acall_and_aforward_are_analyzed() -> None:
    source = """
class Bot(cl.Module):
    def __init__(self):
        self.ask = cl.Predict(Ask)

    async def aforward(self, question: str):
        r = await self.ask.acall(questoin=question)
        return r.answr
"""
    program = analyze_source(HEADER + source, "app.py")
    assert [d.code for d in program.diagnostics] == ["CL201", "CL203"]
    bot = program.module("Bot")
    assert bot is not None and bot.forward is not None
    assert bot.forward.is_async and [c.predictor for c in bot.forward.calls] == ["ask"]


def test_aforward_next_to_forward_is_checked_too() -> None:
    source = """
class Bot(cl.Module):
    def __init__(self):
        self.ask = cl.Predict(Ask)

    def forward(self, question: str):
        return self.ask(question=question)

    async def aforward(self, question: str):
        return await self.ask.acall(question=question, extra=1)
"""
    program = analyze_source(HEADER + source, "app.py")
    assert [d.code for d in program.diagnostics] == ["CL201"]
    bot = program.module("Bot")
    assert bot is not None and bot.forward is not None and not bot.forward.is_async


def test_a_reserved_field_name_is_reported_once() -> None:
    # Dropping the field used to add CL101 (no input) and CL201 (unknown keyword 'json').
    header = """
import castlm as cl

class Ask(cl.Signature):
    json: str = cl.InputField()
    answer: str = cl.OutputField()
"""
    source = bot("return self.ask(json=question).answer")
    assert codes(source, header) == ["CL105"]
