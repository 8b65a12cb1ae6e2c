"""Import collection and alias resolution."""

from __future__ import annotations

import textwrap

import libcst as cst
from castlm.compiler.analyze import analyze_source
from castlm.compiler.analyze.context import Locator
from castlm.compiler.analyze.imports import Aliases, ImportCollector
from castlm.compiler.ir import ImportedName, ProgramIR
from libcst.metadata import MetadataWrapper, PositionProvider


def program(source: str) -> ProgramIR:
    return analyze_source(textwrap.dedent(source), "app.py")


def test_import_ir_forms() -> None:
    ir = program(
        """
        import os, castlm as cl
        import a.b.c
        from typing import List as L, Literal
        from . import models
        from ..pkg.mod import Thing
        from star import *
        if True:
            import json; import re

        def f():
            import inside
        """
    )
    assert [i.source for i in ir.imports] == [
        "import os, castlm as cl",
        "import a.b.c",
        "from typing import List as L, Literal",
        "from . import models",
        "from ..pkg.mod import Thing",
        "from star import *",
        "import json",
        "import re",
    ]
    first, second, typing_import, rel, rel2, star = ir.imports[:6]
    assert first.names == (ImportedName("os", None), ImportedName("castlm", "cl"))
    assert not first.is_from and first.module == ""
    assert second.names[0].bound_name == "a"
    assert typing_import.module == "typing" and typing_import.names[0].bound_name == "L"
    assert (rel.is_relative, rel.level, rel.module) == (True, 1, "")
    assert (rel2.level, rel2.module, rel2.names) == (2, "pkg.mod", (ImportedName("Thing", None),))
    assert star.names == (ImportedName("*", None),)


def aliases(source: str) -> Aliases:
    wrapper = MetadataWrapper(cst.parse_module(textwrap.dedent(source)))
    collector = ImportCollector(Locator(wrapper.module, wrapper.resolve(PositionProvider)))
    wrapper.module.visit(collector)
    return collector.aliases


def expr(text: str) -> cst.BaseExpression:
    return cst.parse_expression(text)


def test_castlm_names_through_every_alias_form() -> None:
    table = aliases(
        """
        import castlm
        import castlm as cl
        from castlm import Signature as S, Predict
        from castlm.predict import ChainOfThought
        """
    )
    assert table.castlm_name(expr("castlm.Signature")) == "Signature"
    assert table.castlm_name(expr("cl.Module")) == "Module"
    assert table.castlm_name(expr("S")) == "Signature"
    assert table.castlm_name(expr("Predict")) == "Predict"
    assert table.castlm_name(expr("ChainOfThought")) == "ChainOfThought"
    assert table.castlm_name(expr("Signature")) is None
    assert table.castlm_name(expr("f().Signature")) is None


def test_qualify_relative_and_submodule_imports() -> None:
    table = aliases(
        """
        import a.b
        import x.y as z
        from .models import Invoice
        from . import sibling
        from star import *
        """
    )
    assert table.qualify(expr("a.b.C")) == "a.b.C"
    assert table.qualify(expr("z.Q")) == "x.y.Q"
    assert table.qualify(expr("Invoice")) == ".models.Invoice"
    assert table.qualify(expr("sibling.T")) == ".sibling.T"
    assert table.qualify(expr("unknown")) is None
    assert table.star_modules == ("star",)


def test_lookalike_names_are_not_castlm() -> None:
    table = aliases("import dspy\nfrom mylib import Signature\nimport castlmx\n")
    assert table.castlm_name(expr("dspy.Predict")) is None
    assert table.castlm_name(expr("Signature")) is None
    assert table.castlm_name(expr("castlmx.Signature")) is None
