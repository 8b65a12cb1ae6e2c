"""Signature declarations: what is accepted, and the errors for what is not."""

from __future__ import annotations

import enum
from typing import Annotated, Literal, Optional

import castlm as cl
import pytest
from castlm import SignatureError, spec_of
from pydantic import BaseModel, Field, ValidationError


class Plan(enum.Enum):
    FREE = "free"
    PRO = "pro"


class Customer(BaseModel):
    plan: Plan
    product: str


class Everything(cl.Signature):
    """Exercise every supported field type."""

    text: str = cl.InputField(desc="some text")
    count: int = cl.InputField(default=3, ge=0)
    label: Literal["a", "b"] = cl.OutputField()
    flag: bool = cl.OutputField()
    score: float = cl.OutputField(ge=0, le=1)
    plan: Plan = cl.OutputField()
    tags: list[str] = cl.OutputField()
    extra: dict[str, int] = cl.OutputField()
    pair: tuple[int, str] = cl.OutputField()
    maybe: Optional[str] = cl.OutputField()  # noqa: UP045 - the old spelling must work too
    either: int | None = cl.OutputField()
    customer: Customer = cl.OutputField()
    sized: Annotated[str, Field(max_length=5)] = cl.OutputField()


def test_spec_orders_fields_and_reads_docstring() -> None:
    spec = spec_of(Everything)
    assert spec.instructions == "Exercise every supported field type."
    assert [f.name for f in spec.inputs] == ["text", "count"]
    assert spec.outputs[0].name == "label"
    assert spec.fields["count"].required is False
    assert spec.fields["text"].required is True
    assert spec.structured


def test_type_descriptions_are_model_readable() -> None:
    fields = spec_of(Everything).fields
    assert fields["label"].type_description == 'one of: "a", "b"'
    assert fields["flag"].type_description == "boolean: true or false"
    assert fields["plan"].type_description == 'one of: "free", "pro"'
    assert fields["tags"].type_description == "JSON array of string"
    assert fields["either"].type_description == "integer, or null"


def test_missing_docstring_gets_a_default_instruction() -> None:
    class QA(cl.Signature):
        question: str = cl.InputField()
        answer: str = cl.OutputField()

    assert spec_of(QA).instructions == "Given the fields `question`, produce the fields `answer`."


def test_subclass_inherits_fields() -> None:
    class Base(cl.Signature):
        """Base."""

        question: str = cl.InputField()
        answer: str = cl.OutputField()

    class Child(Base):
        """Child."""

        context: str = cl.InputField()

    spec = spec_of(Child)
    assert [f.name for f in spec.inputs] == ["question", "context"]
    assert spec.instructions == "Child."


BAD = {
    "no input": ("y: str = OutputField()", "has no input field"),
    "no output": ("x: str = InputField()", "has no output field"),
    "no marker": (
        "x: str = InputField()\n    y: str = OutputField()\n    z: str = 'a'",
        "'z' is neither an input nor an output",
    ),
    "reserved": ("x: str = InputField()\n    json: str = OutputField()", "'json' is reserved"),
    "reserved castlm": (
        "x: str = InputField()\n    demos: str = OutputField()",
        "'demos' is reserved",
    ),
    "underscore": (
        "x: str = InputField()\n    _y: str = OutputField()",
        "starts with an underscore",
    ),
    "no annotation": ("x = InputField()\n    y: str = OutputField()", "has no type annotation"),
    "any": ("x: str = InputField()\n    y: Any = OutputField()", "Any/object"),
    "class": (
        "x: str = InputField()\n    y: Thing = OutputField()",
        "Thing is not a supported field type",
    ),
    "int keys": (
        "x: str = InputField()\n    y: dict[int, str] = OutputField()",
        "dict keys must be str",
    ),
    "bad literal": ("x: str = InputField()\n    y: Literal[1.5] = OutputField()", "Literal values"),
    "bad constraint": (
        "x: str = InputField()\n    y: int = OutputField(gee=1)",
        "did you mean 'ge'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_declarations_name_class_and_field(case: str) -> None:
    body, message = BAD[case]
    source = f"class Broken(Signature):\n    {body}\n"
    namespace = {
        "Signature": cl.Signature,
        "InputField": cl.InputField,
        "OutputField": cl.OutputField,
        "Any": __import__("typing").Any,
        "Literal": Literal,
        "Thing": type("Thing", (), {}),
    }
    with pytest.raises(SignatureError) as info:
        exec(compile(source, "<test>", "exec", dont_inherit=True), namespace)
    assert message in str(info.value)
    if case != "bad constraint":
        assert "Broken" in str(info.value)


def test_signature_error_is_a_castlm_error() -> None:
    assert issubclass(SignatureError, cl.CastlmError)


def test_input_and_output_models_validate_constraints() -> None:
    spec = spec_of(Everything)
    with pytest.raises(ValidationError):
        spec.input_model.model_validate({"text": "x", "count": -1})
    assert spec.input_model.model_validate({"text": "x"}).count == 3  # type: ignore[attr-defined]
