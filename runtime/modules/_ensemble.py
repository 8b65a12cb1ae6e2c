"""Ensembles: several copies of a program, each with its own parameters, and a reducer.

Every call runs all members on the same arguments at once (threads for ``forward``,
``asyncio.gather`` for ``acall``) and reduces their outputs to one, by default with
:func:`majority`. Traces stay in member order whatever the timing, so the prompts of an
ensemble are as reproducible as a single program's.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar, cast

from pydantic import BaseModel

from ..base._errors import ConfigurationError
from ..base._narrow import is_any_mapping
from ..core._context import TraceStep, current, trace
from ..core._module import Module

M = TypeVar("M", bound=Module)
T = TypeVar("T")
Reducer = Callable[[list[Any]], Any]


class Ensemble(Module, Generic[M]):
    """``members`` run together on every call; ``reduce`` turns their outputs (a list, in
    member order) into the answer. Members are ordinary attributes, so their predictors are
    named ``members.0.<name>``, ``members.1.<name>``, ...
    """

    def __init__(self, members: Sequence[M], *, reduce: Reducer | None = None) -> None:
        if not members:
            raise ConfigurationError("an Ensemble needs at least one member")
        self.members: list[M] = list(members)
        self._reduce: Reducer = reduce or majority

    @property
    def reduce(self) -> Reducer:
        return self._reduce

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The reduced output (a coroutine when the members' ``forward`` is async)."""
        if inspect.iscoroutinefunction(self.members[0].forward):
            return self.aforward(*args, **kwargs)
        outer = current().trace
        with ThreadPoolExecutor(max_workers=len(self.members)) as pool:
            futures = [
                pool.submit(contextvars.copy_context().run, _run, m, args, kwargs, outer)
                for m in self.members
            ]
            results = [f.result() for f in futures]
        return self._finish(results, outer)

    async def aforward(self, *args: Any, **kwargs: Any) -> Any:
        outer = current().trace
        results = await asyncio.gather(*(_arun(m, args, kwargs, outer) for m in self.members))
        return self._finish(list(results), outer)

    def _finish(
        self, results: list[tuple[Any, list[TraceStep]]], outer: list[TraceStep] | None
    ) -> Any:
        if outer is not None:
            for _, steps in results:
                outer.extend(steps)
        return self._reduce([output for output, _ in results])


def _run(
    member: Module, args: tuple[Any, ...], kwargs: dict[str, Any], outer: object
) -> tuple[Any, list[TraceStep]]:
    if outer is None:
        return member(*args, **kwargs), []
    with trace() as steps:  # each member records apart; the caller's trace gets them in order
        output = member(*args, **kwargs)
    return output, steps


async def _arun(
    member: Module, args: tuple[Any, ...], kwargs: dict[str, Any], outer: object
) -> tuple[Any, list[TraceStep]]:
    steps: list[TraceStep] = []
    if outer is None:
        return await _acall(member, args, kwargs), steps
    with trace() as steps:
        output = await _acall(member, args, kwargs)
    return output, steps


async def _acall(member: Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if inspect.iscoroutinefunction(member.forward):
        return await member.forward(*args, **kwargs)
    return await member.acall(*args, **kwargs)


# -- reducing ----------------------------------------------------------------------------
def majority(outputs: Sequence[T]) -> T:
    """The majority vote of ``outputs``.

    Plain values (text, numbers, lists): the most common one. Structured values (pydantic
    models such as signature results, or dicts): every field gets its most common value, and
    a field on which no two outputs agree (a free-text ``reasoning``, say) keeps the value of
    the output that agrees with the most voted fields. Ties go to the earliest member.
    """
    if not outputs:
        raise ConfigurationError("majority() needs at least one output")
    fields = [_fields(o) for o in outputs]
    structured = [f for f in fields if f is not None]
    if len(structured) == len(outputs):
        return _vote_fields(outputs, structured)
    keys = [_key(o) for o in outputs]
    counts = Counter(keys)
    best = max(counts.values())
    return outputs[next(i for i, key in enumerate(keys) if counts[key] == best)]


def _vote_fields(outputs: Sequence[T], fields: list[dict[str, str]]) -> T:
    winners: dict[str, int] = {}  # field -> the first output holding its voted value
    for name in dict.fromkeys(n for f in fields for n in f):
        keys = [f.get(name) for f in fields]
        counts = Counter(k for k in keys if k is not None)
        value, count = max(counts.items(), key=lambda item: item[1])  # first seen wins a tie
        if count >= 2:
            winners[name] = keys.index(value)
    agreement = [sum(f.get(n) == fields[i][n] for n, i in winners.items()) for f in fields]
    base = agreement.index(max(agreement))
    updates = {
        name: _field(outputs[i], name)
        for name, i in winners.items()
        if fields[base].get(name) != fields[i][name]
    }
    return _with(outputs[base], updates) if updates else outputs[base]


def _fields(output: Any) -> dict[str, str] | None:
    """A structured output's fields as comparable keys, or None for a plain value."""
    dump = getattr(output, "model_dump", None)
    data = dump(mode="json") if callable(dump) else output
    if not is_any_mapping(data):
        return None
    return {str(name): _key(value) for name, value in data.items()}


def _field(output: Any, name: str) -> Any:
    return output[name] if is_any_mapping(output) else getattr(output, name)


def _with(output: T, updates: dict[str, Any]) -> T:
    # The output's own type, rebuilt with the voted fields: a dict stays a dict, a model a model.
    if is_any_mapping(output):
        rebuild = cast("Callable[[dict[Any, Any]], T]", type(output))
        return rebuild({**output, **updates})
    if isinstance(output, BaseModel):
        return output.model_copy(update=updates)
    raise TypeError(f"majority() cannot rebuild a {type(output).__name__} with voted fields")


def _key(value: Any) -> str:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        value = dump(mode="json")
    return json.dumps(value, sort_keys=True, default=repr, ensure_ascii=True)
