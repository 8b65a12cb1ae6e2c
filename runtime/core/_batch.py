"""Running one predictor or program over many inputs, with bounded concurrency.

The result has one :class:`Ok` or :class:`Err` per input, in input order: a failure is kept
with its input and stops nothing else, and no input is ever dropped. Each outcome carries the
usage of its own LM calls; the batch carries the total.

``batch`` uses threads (for sync code); ``abatch`` uses asyncio tasks, calling ``acall`` on
predictors and modules, awaiting coroutine functions, and running other callables in threads.
Both run every input in a copy of the caller's context, so ``castlm.context(...)``, usage
tracking and the current trace span apply inside.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeAlias, TypeVar, overload

from ..base._errors import ConfigurationError, InputError
from ..base._narrow import is_mapping
from ..observe._usage import UsageReport, track_usage
from ._concurrency import BATCH_CONCURRENCY as CONCURRENCY

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Ok(Generic[T]):
    """An input that succeeded: its ``value`` and the ``usage`` of its LM calls."""

    value: T
    usage: UsageReport
    ok: Literal[True] = True


@dataclass(frozen=True, slots=True)
class Err:
    """An input that failed: the ``error`` it raised and the ``usage`` spent before that."""

    error: Exception
    usage: UsageReport
    ok: Literal[False] = False


Outcome: TypeAlias = Ok[T] | Err


class BatchResult(Sequence[Outcome[T]]):
    """One outcome per input, in input order, and ``usage`` over the whole batch."""

    def __init__(self, outcomes: Sequence[Outcome[T]], usage: UsageReport) -> None:
        self._outcomes = tuple(outcomes)
        self.usage = usage

    @overload
    def __getitem__(self, index: int) -> Outcome[T]: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Outcome[T]]: ...

    def __getitem__(self, index: int | slice) -> Outcome[T] | Sequence[Outcome[T]]:
        return self._outcomes[index]

    def __len__(self) -> int:
        return len(self._outcomes)

    def __iter__(self) -> Iterator[Outcome[T]]:
        return iter(self._outcomes)

    def values(self) -> list[T]:
        """Every value, in order; raises the first input's error if any input failed."""
        for outcome in self._outcomes:
            if isinstance(outcome, Err):
                raise outcome.error
        return [o.value for o in self._outcomes if isinstance(o, Ok)]

    def errors(self) -> list[tuple[int, Exception]]:
        """``(input index, error)`` of every failed input."""
        return [(i, o.error) for i, o in enumerate(self._outcomes) if isinstance(o, Err)]

    def __repr__(self) -> str:
        return f"BatchResult({len(self)} inputs, {len(self.errors())} failed)"


def batch(
    target: Callable[..., T],
    inputs: Sequence[Mapping[str, Any]],
    *,
    concurrency: int = CONCURRENCY,
) -> BatchResult[T]:
    """Call ``target(**input)`` for every input on up to ``concurrency`` threads."""
    items = _checked(inputs, concurrency)
    with track_usage() as usage:
        if not items:
            return BatchResult([], usage)
        workers = min(concurrency, len(items))
        with ThreadPoolExecutor(workers, thread_name_prefix="castlm-batch") as pool:
            futures = [
                pool.submit(contextvars.copy_context().run, _one, target, item) for item in items
            ]
            outcomes = [f.result() for f in futures]
    return BatchResult(outcomes, usage)


@overload
async def abatch(
    target: Callable[..., Awaitable[T]],
    inputs: Sequence[Mapping[str, Any]],
    *,
    concurrency: int = CONCURRENCY,
) -> BatchResult[T]: ...


@overload
async def abatch(
    target: Callable[..., T],
    inputs: Sequence[Mapping[str, Any]],
    *,
    concurrency: int = CONCURRENCY,
) -> BatchResult[T]: ...


async def abatch(
    target: Callable[..., Any],
    inputs: Sequence[Mapping[str, Any]],
    *,
    concurrency: int = CONCURRENCY,
) -> BatchResult[Any]:
    """Await ``target`` for every input, at most ``concurrency`` at a time."""
    items = _checked(inputs, concurrency)
    call = _async_call(target)
    outcomes: list[Outcome[Any] | None] = [None] * len(items)
    pending = iter(range(len(items)))

    async def worker() -> None:
        for index in pending:  # one shared iterator: each input is taken exactly once
            outcomes[index] = await _aone(call, items[index])

    with track_usage() as usage:
        await asyncio.gather(*(worker() for _ in range(min(concurrency, len(items)))))
    return BatchResult([o for o in outcomes if o is not None], usage)


def _checked(inputs: Sequence[Mapping[str, Any]], concurrency: int) -> list[Any]:
    if concurrency < 1:
        raise ConfigurationError(f"concurrency must be >= 1, not {concurrency}")
    if isinstance(inputs, Mapping | str | bytes):
        raise InputError("batch inputs must be a list of dicts, one per call")
    return list(inputs)


def _one(target: Callable[..., T], item: Any) -> Outcome[T]:
    with track_usage() as usage:
        try:
            return Ok(target(**_kwargs(item)), usage)
        except Exception as exc:  # kept with its input; the other inputs carry on
            return Err(exc, usage)


async def _aone(call: Callable[..., Awaitable[T]], item: Any) -> Outcome[T]:
    with track_usage() as usage:
        try:
            return Ok(await call(**_kwargs(item)), usage)
        except Exception as exc:
            return Err(exc, usage)


def _kwargs(item: Any) -> Mapping[str, Any]:
    if not is_mapping(item):
        raise InputError(f"a batch input must be a dict of input fields, not {item!r:.100}")
    return item


def _async_call(target: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    acall = getattr(target, "acall", None)
    if callable(acall):
        return acall  # type: ignore[no-any-return]
    if inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(
        getattr(target, "__call__", None)  # noqa: B004 - an async __call__ method
    ):
        return target

    async def in_thread(**kwargs: Any) -> Any:
        return await asyncio.to_thread(target, **kwargs)

    return in_thread
