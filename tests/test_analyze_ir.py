"""What the analyzer records in ProgramIR: signatures, modules, forward data flow."""

from __future__ import annotations

import textwrap
from pathlib import Path

from castlm.compiler.analyze import analyze_file, analyze_source
from castlm.compiler.ir import DataSource, ForwardIR, ProgramIR, annotation_names


def program(source: str) -> ProgramIR:
    return analyze_source(textwrap.dedent(source), "app.py")


SIGNATURES = """
    import castlm as cl
    from typing import Literal


    class Triage(cl.Signature):
        '''
        Route a customer-support ticket.
        '''

        ticket: str = cl.InputField(desc="the " "message")
        lang: str = cl.InputField(default="en", max_length=5)
        category: Literal["billing", "bug"] = cl.OutputField()


    class Answer(Triage):
        category: Literal["billing", "bug", "other"] = cl.OutputField(desc="wider")
        reply: str = cl.OutputField()
"""


def test_signature_fields_and_docstring() -> None:
    triage = program(SIGNATURES).signature("Triage")
    assert triage is not None
    assert triage.docstring == "Route a customer-support ticket."
    assert triage.bases == ("cl.Signature",)
    assert triage.complete
    ticket, lang, category = triage.fields
    assert (ticket.name, ticket.role, ticket.annotation, ticket.desc) == (
        "ticket",
        "input",
        "str",
        "the message",
    )
    assert (lang.has_default, lang.default, lang.constraints) == (
        True,
        '"en"',
        (("max_length", "5"),),
    )
    assert not ticket.has_default and ticket.default is None
    assert category.annotation == 'Literal["billing", "bug"]'
    assert (ticket.location.line, ticket.location.col) == (11, 5)
    assert triage.location.line == 6


def test_inherited_fields_keep_base_order_and_overrides() -> None:
    answer = program(SIGNATURES).signature("Answer")
    assert answer is not None
    assert [f.name for f in answer.fields] == ["ticket", "lang", "category", "reply"]
    assert [f.declared_in for f in answer.fields] == ["Triage", "Triage", "Answer", "Answer"]
    assert answer.fields[2].desc == "wider"
    assert [f.name for f in answer.inputs] == ["ticket", "lang"]
    assert answer.docstring is None


def test_signature_with_base_from_another_file_is_incomplete() -> None:
    ir = program(
        """
        import castlm as cl
        from shared import Base

        class Mine(Base):
            extra: str = cl.InputField()
        """
    )
    mine = ir.signature("Mine")
    assert mine is not None and not mine.complete
    assert [f.name for f in mine.fields] == ["extra"]
    assert ir.diagnostics == ()


MODULES = """
    import castlm as cl

    class Ask(cl.Signature):
        question: str = cl.InputField()
        answer: str = cl.OutputField()

    class Inner(cl.Module):
        def __init__(self):
            super().__init__()
            self.route = cl.Predict(Ask)
            self.deep = [Leaf(), Leaf()]

    class Leaf(cl.Module):
        def __init__(self):
            self.p = cl.ChainOfThought(Ask)

    class Bot(cl.Module):
        def __init__(me) -> None:
            super().__init__()
            me.first = cl.Predict(Ask)
            me.hops = [cl.Predict(Ask) for _ in range(3)]
            me.pair = [cl.Predict(Ask), cl.ChainOfThought(Ask)]
            me.experts = {"a": cl.Predict(Ask), "b-c": cl.Predict(Ask), 1: cl.Predict(Ask)}
            me.stage = Inner()
            me.unknown = [cl.Predict(Ask) for _ in things]
            me.replaced = cl.Predict(Ask)
            me.replaced = None
            me.config = {"temperature": 0.1}

    class Child(Bot):
        def __init__(self):
            super().__init__()
            self.extra: cl.Predict = cl.Predict(Ask)
"""


def test_predictor_naming_for_lists_dicts_and_submodules() -> None:
    bot = program(MODULES).module("Bot")
    assert bot is not None
    assert [p.path for p in bot.predictors] == [
        "first",
        "hops.0",
        "hops.1",
        "hops.2",
        "pair.0",
        "pair.1",
        "experts.a",
        "experts.b-c",
        "stage.route",
        "stage.deep.0.p",
        "stage.deep.1.p",
    ]
    assert [(p.kind, p.signature) for p in bot.predictors[4:6]] == [
        ("Predict", "Ask"),
        ("ChainOfThought", "Ask"),
    ]
    assert [(s.path, s.class_name) for s in bot.submodules] == [
        ("stage", "Inner"),
        ("stage.deep.0", "Leaf"),
        ("stage.deep.1", "Leaf"),
    ]
    assert bot.forward is None
    assert bot.predictor("hops.1") is not None


def test_module_members_are_inherited() -> None:
    child = program(MODULES).module("Child")
    assert child is not None
    assert child.predictors[0].path == "first"
    assert child.predictors[-1].path == "extra"


FORWARD = """
    import castlm as cl

    class Ask(cl.Signature):
        question: str = cl.InputField()
        context: str = cl.InputField(default="")
        answer: str = cl.OutputField()

    class Bot(cl.Module):
        def __init__(self):
            self.draft = cl.ChainOfThought(Ask)
            self.hops = [cl.Predict(Ask) for _ in range(2)]
            self.final = cl.Predict(Ask)

        async def forward(self, question: str, /, context: str = "", *rest, style: str, **kw) -> T:
            d = await self.draft(question=question)
            note = f"{d.answer} ({context})"
            for hop in self.hops:
                note = hop(question=note).answer
            out = self.final(question=question.strip(), context=note + d.reasoning)
            return out.answer
"""


def bot_forward() -> ForwardIR:
    bot = program(FORWARD).module("Bot")
    assert bot is not None and bot.forward is not None
    return bot.forward


def test_forward_params_and_signature() -> None:
    forward = bot_forward()
    assert [(p.name, p.annotation, p.default, p.keyword_only, p.star) for p in forward.params] == [
        ("question", "str", None, False, ""),
        ("context", "str", '""', False, ""),
        ("rest", None, None, False, "*"),
        ("style", "str", None, True, ""),
        ("kw", None, None, False, "**"),
    ]
    assert forward.return_annotation == "T"
    assert forward.is_async
    assert forward.defined_in == "Bot"


def test_forward_calls_and_data_flow() -> None:
    forward = bot_forward()
    calls = {c.predictor: c for c in forward.calls}
    assert list(calls) == ["draft", "hops.0", "hops.1", "final"]
    assert calls["draft"].result_var == "d"
    assert calls["draft"].inputs[0].sources == (DataSource("param", "question", None),)
    assert calls["hops.0"].result_var is None
    assert set(calls["hops.0"].inputs[0].sources) == {
        DataSource("param", "context", None),
        DataSource("predictor", "draft", "answer"),
    }
    final_context = dict((f.field, f.sources) for f in calls["final"].inputs)["context"]
    assert set(final_context) == {
        DataSource("param", "context", None),
        DataSource("predictor", "draft", "answer"),
        DataSource("predictor", "draft", "reasoning"),
        DataSource("predictor", "hops.0", "answer"),
        DataSource("predictor", "hops.1", "answer"),
    }
    assert forward.returns == (DataSource("predictor", "final", "answer"),)
    assert ("draft", "reasoning") in {(r.predictor, r.field) for r in forward.reads}
    assert calls["final"].keywords == ("question", "context")


def test_forward_inherited_from_base_module() -> None:
    source = FORWARD + "\n    class Sub(Bot):\n        pass\n"
    sub = program(source).module("Sub")
    assert sub is not None and sub.forward is not None
    assert sub.forward.defined_in == "Bot"
    assert len(sub.forward.calls) == 4


def test_toplevel_names_and_class_kinds() -> None:
    ir = program(
        """
        import enum
        import castlm as cl
        from pydantic import BaseModel
        from dataclasses import dataclass

        X = 1
        a, (b, *c) = 1, (2, 3)
        y: int = 2
        def helper(): pass
        class Color(enum.Enum): ...
        class Model(BaseModel): ...
        @dataclass
        class Point: ...
        class Other(Unknown): ...
        class Plain: ...
        class Tag(str): ...
        class Error(Exception): ...
        if True:
            Z = 3
        """
    )
    assert ir.toplevel_names == (
        "X",
        "a",
        "b",
        "c",
        "y",
        "helper",
        "Color",
        "Model",
        "Point",
        "Other",
        "Plain",
        "Tag",
        "Error",
        "Z",
    )
    kinds = {c.name: c.kind for c in ir.classes}
    assert kinds == {
        "Color": "enum",
        "Model": "model",
        "Point": "data",
        "Other": "external",
        "Plain": "plain",
        "Tag": "plain",
        "Error": "plain",
    }


def test_syntax_error_gives_empty_program(tmp_path: Path) -> None:
    ir = program("class A(:\n")
    assert [d.code for d in ir.diagnostics] == ["CL001"]
    assert ir.signatures == () and ir.modules == ()
    assert ir.has_errors


def test_analyze_file_reads_and_reports_paths(tmp_path: Path) -> None:
    path = tmp_path / "prog.py"
    path.write_bytes(b"# -*- coding: latin-1 -*-\nname = '\xe9'\n")
    ir = analyze_file(path)
    assert ir.path == str(path) and "\u00e9" in ir.source and ir.diagnostics == ()
    bad = tmp_path / "bad.py"
    bad.write_bytes(b"x = '\xff'\n")
    assert [d.code for d in analyze_file(bad).diagnostics] == ["CL001"]


def test_annotation_names() -> None:
    assert annotation_names("dict[str, models.Invoice]") == ("dict", "str", "models")
    assert annotation_names('Literal["a b", "c"]') == ("Literal",)
    assert annotation_names('list["Item"] | None') == ("list", "Item")
    assert annotation_names('Annotated[int, Field(ge=1), "meta"]') == (
        "Annotated",
        "int",
        "Field",
    )
    assert annotation_names("not valid python (") == ()
