import dataclasses
import datetime
import typing
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any, Literal, Optional, Union

import castlm as cl
from myproject.models import Invoice
from pydantic import BaseModel


class Color(Enum):
    RED = "red"


class Item(BaseModel):
    name: str


class Plain:
    pass


class Tag(str):
    pass


class Table(dict):
    pass


@dataclasses.dataclass
class Point:
    x: int


class Runner(cl.Module):
    def forward(self) -> None:
        return None


def helper() -> int:
    return 1


Alias = list[int]


class Types(cl.Signature):
    # Supported: no diagnostics on these lines.
    text: str = cl.InputField()
    when: datetime.datetime = cl.InputField()
    day: datetime.date = cl.InputField()
    color: Color = cl.InputField()
    items: list[Item] = cl.InputField()
    forward_ref: "Item" = cl.InputField()
    invoice: Invoice | None = cl.InputField()
    nested: dict[str, list[tuple[int, ...]]] = cl.InputField()
    legacy: typing.List[Optional[Union[int, str]]] = cl.InputField()
    choice: Literal["a", 1, -2, True, Color.RED] = cl.InputField()
    aliased: Alias = cl.InputField()
    # Errors.
    anything: Any = cl.OutputField()
    obj: object = cl.OutputField()
    func: Callable[[int], str] = cl.OutputField()
    seq: Sequence[int] = cl.OutputField()
    keys: dict[int, str] = cl.OutputField()
    floaty: Literal["a", 1.5] = cl.OutputField()
    nothing: None = cl.OutputField()
    clock: datetime.time = cl.OutputField()
    raw: bytes = cl.OutputField()
    plain: list[Plain] = cl.OutputField()
    point: Point = cl.OutputField()
    table: Table = cl.OutputField()
    tag: Tag = cl.OutputField()
    bare: list = cl.OutputField()
    runner: Runner = cl.OutputField()
    function: helper = cl.OutputField()
    weird: list[int]() = cl.OutputField()
    bad_ref: "list[Any]" = cl.OutputField()
    # Warnings: castlm cannot see these names.
    mystery: Mystery = cl.OutputField()
    deep: list[somewhere.Thing] = cl.OutputField()
