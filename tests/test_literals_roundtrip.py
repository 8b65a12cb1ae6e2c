"""Any text from data survives the trip into generated files exactly (or, in docs, safely)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterator
from typing import Any

import pytest
from castlm import PredictorParams
from castlm.compiler.emit import EmitError, literals
from castlm.compiler.emit.render import frozen_module
from castlm.compiler.emit.templating import Escaped, environment
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Every code point, surrogates included, with the troublemakers drawn often.
TRICKY = [
    "'", '"', "\\", "'''", '"""', "{{", "}}", "{%", "%}", "{#", "\x00", "\r", "\n", "\r\n",
    "\u2028", "\u2029", "\x85", "\ud800", "\udfff", "\ufeff", "\u202e", "`", "```",
]  # fmt: skip
text = st.lists(
    st.one_of(st.sampled_from(TRICKY), st.characters(codec=None), st.text(max_size=5)),
    max_size=12,
).map("".join)
json_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), text
)
json_data = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
demo = st.dictionaries(text, json_data, max_size=4)
predictor_params = st.builds(
    PredictorParams, instructions=text, demos=st.lists(demo, max_size=2).map(tuple)
)
params_strategy = st.dictionaries(text, predictor_params, min_size=1, max_size=3)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@given(text)
@FAST
def test_py_str_reads_back_exactly(value: str) -> None:
    literal = literals.py_str(value)
    assert "\n" not in literal and "\r" not in literal
    assert ast.literal_eval(literal) == value
    literal.encode("utf-8")  # never a lone surrogate in the file itself


@given(text, st.integers(0, 3))
@FAST
def test_py_str_block_reads_back_exactly(value: str, indent: int) -> None:
    literal = literals.py_str_block(value, indent)
    assert ast.literal_eval(literal) == value
    # One literal per line of the text, so multi-line instructions stay readable.
    assert literal.count("\n") in (0, value.count("\n") + (not value.endswith("\n")) + 1)


@given(json_data)
@FAST
def test_py_value_reads_back_exactly(value: Any) -> None:
    assert ast.literal_eval(literals.py_value(value, 1)) == value


def test_non_finite_floats_and_tuples_are_frozen_too() -> None:
    assert eval(literals.py_value([float("inf"), -float("inf")], 0)) == [
        float("inf"),
        -float("inf"),
    ]
    assert ast.literal_eval(literals.py_value((1,), 0)) == (1,)


def test_values_that_are_not_json_data_are_refused_with_their_location() -> None:
    with pytest.raises(EmitError, match=r"the demos\[0\]\['when'\] is a object"):
        literals.py_value([{"when": object()}], 0, "the demos")


# -- the whole _frozen.py module ---------------------------------------------------------
@pytest.fixture(scope="module")
def fake_package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A package whose ``_runtime`` is castlm itself, so rendered modules can be exec'd."""
    root = tmp_path_factory.mktemp("frozen")
    package = root / "frozen_roundtrip"
    (package / "_runtime").mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "_runtime" / "__init__.py").write_text(
        "from castlm import PredictorParams as PredictorParams\n", encoding="utf-8"
    )
    sys.path.insert(0, str(root))
    yield "frozen_roundtrip"
    sys.path.remove(str(root))


ENV = environment()


@given(params_strategy)
@FAST
def test_frozen_module_round_trips_exactly(fake_package: str, params: dict[str, Any]) -> None:
    source = frozen_module(ENV, "Program", [params])
    source.encode("utf-8")
    namespace: dict[str, Any] = {"__name__": f"{fake_package}._frozen", "__package__": fake_package}
    exec(compile(source, "_frozen.py", "exec"), namespace)
    assert namespace["PARAMS"] == params


# -- the template guard ------------------------------------------------------------------
def test_templates_cannot_write_unescaped_values() -> None:
    env = environment()
    with pytest.raises(EmitError, match="without an escaping filter"):
        env.from_string("x = {{ value }}").render(value="'; import os #")
    assert env.from_string("x = {{ value | pystr }}").render(value="'") == 'x = "\'"'
    assert isinstance(env.filters["ident"]("name"), Escaped)
    with pytest.raises(EmitError, match="not a valid Python identifier"):
        env.filters["ident"]("os; import sys")
    with pytest.raises(EmitError, match="Undefined"):
        env.from_string("{{ missing | pystr }}").render()


# -- Markdown and TOML -------------------------------------------------------------------
@given(text)
@FAST
def test_md_fence_cannot_be_closed_by_the_text(value: str) -> None:
    block = literals.md_fence(value, "text")
    block.encode("utf-8")
    lines = block.split("\n")
    fence = lines[0].removesuffix("text")
    assert set(fence) == {"`"} and len(fence) >= 3
    assert lines[-1] == fence
    # No line inside can close it: a closing fence needs at least as many backticks.
    inner = lines[1:-1]
    assert not any(re.fullmatch(rf" {{0,3}}`{{{len(fence)},}}\s*", line) for line in inner)
    assert "\n".join(inner) == literals.displayable(value)


@given(text)
@FAST
def test_md_code_and_md_text_stay_on_one_line(value: str) -> None:
    for rendered in (literals.md_code(value), literals.md_text(value)):
        rendered.encode("utf-8")
        assert "\n" not in rendered and "\r" not in rendered


@given(text.filter(lambda t: not any(0xD800 <= ord(c) <= 0xDFFF for c in t)))
@FAST
def test_toml_strings_read_back_exactly(value: str) -> None:
    assert tomllib.loads(f"key = {literals.toml_str(value)}")["key"] == value


def test_toml_refuses_lone_surrogates() -> None:
    with pytest.raises(EmitError, match="surrogate"):
        literals.toml_str("\ud800")
