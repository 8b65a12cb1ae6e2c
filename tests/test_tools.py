"""castlm.Tool: schemas from typed functions, validation before the call, failures as
observations, sync and async functions."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Literal

import castlm as cl
import pytest
from castlm.tools._tool import render, truncate
from pydantic import BaseModel


def convert(value: float, unit: Literal["km", "mi"], precision: int = 2) -> float:
    """Convert a distance to meters.

    Args:
        value: the distance
        unit: the unit of ``value``,
            kilometers or miles
        precision: decimals to keep

    Returns:
        the distance in meters
    """
    factor = 1000.0 if unit == "km" else 1609.344
    return round(value * factor, precision)


async def lookup(key: str) -> str:
    """Look a key up."""
    if key == "missing":
        raise KeyError(key)
    return key.upper()


def test_name_description_and_schema_come_from_the_function() -> None:
    tool = cl.Tool(convert)
    assert tool.name == "convert"
    assert tool.description == "Convert a distance to meters."
    assert tool.parameters == {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "value": {"type": "number", "description": "the distance"},
            "unit": {
                "type": "string",
                "enum": ["km", "mi"],
                "description": "the unit of ``value``, kilometers or miles",
            },
            "precision": {"type": "integer", "default": 2, "description": "decimals to keep"},
        },
        "required": ["value", "unit"],
    }
    assert tool.spec() == {
        "type": "function",
        "function": {
            "name": "convert",
            "description": "Convert a distance to meters.",
            "parameters": tool.parameters,
        },
    }
    assert tool.describe().startswith('convert: Convert a distance to meters. Arguments: {"value"')


def test_name_and_description_can_be_given() -> None:
    tool = cl.Tool(convert, name="to_meters", description="Meters from km or miles.")
    assert (tool.name, tool.description) == ("to_meters", "Meters from km or miles.")


def test_arguments_are_validated_and_converted_before_the_call() -> None:
    tool = cl.Tool(convert)
    assert tool(value="2", unit="km") == 2000.0  # lax conversion, as pydantic does
    with pytest.raises(cl.ToolError, match="unit: Input should be 'km' or 'mi'"):
        tool(value=1, unit="furlong")
    with pytest.raises(cl.ToolError, match="value: Field required"):
        tool(unit="km")
    with pytest.raises(cl.ToolError, match="extra: Extra inputs are not permitted"):
        tool(value=1, unit="km", extra=True)


def test_run_turns_every_failure_into_an_observation() -> None:
    tool = cl.Tool(convert)
    assert tool.run({"value": 1, "unit": "mi"}) == cl.Observation("1609.34", True, 1609.34)
    bad = tool.run('{"value": "far", "unit": "km"}')
    assert not bad.ok
    assert bad.text.startswith("Error: invalid arguments for convert: value: Input should be")

    def broken(x: int) -> int:
        """Always fails."""
        raise RuntimeError(f"cannot handle {x}")

    failed = cl.Tool(broken).run({"x": 3})
    assert failed == cl.Observation("Error: broken raised RuntimeError: cannot handle 3", False)


def test_text_arguments_are_json_or_the_only_parameter() -> None:
    tool = cl.Tool(lookup)
    assert tool.run('{"key": "a"}').text == "A"
    assert tool.run("plain text").text == "PLAIN TEXT"  # one parameter: the text is its value
    assert not cl.Tool(convert).run("not json").ok  # several parameters: must be an object
    assert cl.Tool(convert).run("").text.startswith("Error: invalid arguments")


def test_async_tools_run_from_sync_and_async_callers() -> None:
    tool = cl.Tool(lookup)
    assert tool.is_async
    assert tool(key="x") == "X"
    assert tool.run({"key": "missing"}).text == "Error: lookup raised KeyError: 'missing'"
    assert asyncio.run(tool.arun({"key": "y"})).text == "Y"
    assert asyncio.run(cl.Tool(convert).arun({"value": 1, "unit": "km"})).value == 1000.0

    async def inside_a_loop() -> str:
        # A sync call from code that runs in an event loop must not deadlock.
        result: str = tool(key="z")
        return result

    assert asyncio.run(inside_a_loop()) == "Z"


def test_positional_only_parameters_and_methods() -> None:
    def minus(a: int, b: int, /) -> int:
        """Subtract."""
        return a - b

    class Counter:
        def __init__(self) -> None:
            self.total = 0

        def add(self, n: int) -> int:
            """Add n to the total."""
            self.total += n
            return self.total

    assert cl.Tool(minus).run({"a": 5, "b": 2}).value == 3
    counter = Counter()
    tool = cl.Tool(counter.add)
    assert list(tool.parameters["properties"]) == ["n"]
    tool.run({"n": 2})
    assert counter.total == 2


def test_functions_that_cannot_be_described_are_rejected() -> None:
    def variadic(*parts: str) -> str:
        return "".join(parts)

    with pytest.raises(cl.ConfigurationError, match=r"\*parts"):
        cl.Tool(variadic)
    with pytest.raises(cl.ConfigurationError, match="pass name="):
        cl.Tool(lambda x: x)
    with pytest.raises(cl.ConfigurationError, match="needs a function"):
        cl.Tool("convert")  # type: ignore[arg-type]


def test_return_values_render_as_text() -> None:
    class Point(BaseModel):
        x: int
        y: int

    assert render("as is") == "as is"
    assert render({"a": [1, 2]}) == '{"a": [1, 2]}'
    assert render(Point(x=1, y=2)) == '{"x":1,"y":2}'
    assert render(None) == "null"
    assert truncate("x" * 10, 4) == "xxxx... [truncated 6 characters]"
    long = cl.Tool(lookup).run({"key": "k" * 50}, max_chars=10)
    assert long.text == "KKKKKKKKKK... [truncated 40 characters]"
    assert json.loads(render([1.5, "a"])) == [1.5, "a"]


def test_copies_of_a_program_share_its_tools() -> None:
    tool = cl.Tool(convert)
    assert copy.deepcopy(tool) is tool
    assert copy.copy(tool) is tool
