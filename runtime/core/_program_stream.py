"""Streaming a whole program: every inner predictor's output fields as they arrive, status
events (such as the tool an agent calls), then the program's validated result.

``program.astream(...)`` runs the program's async forward (``aforward``, or the twin castlm
makes of ``forward``) in a task, with a :class:`Session` in a context variable
(``_instrument.streaming``). Each predictor call made inside it sees the session and streams
instead of completing, so ``forward`` streams as written. The events travel through a queue to
the consumer; when the consumer stops iterating, the task is cancelled, which closes the HTTP
stream in flight. ``program.stream(...)`` drives the same events on a private event loop in the
calling thread (no thread per call).
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeAlias, TypeVar

from ..base._errors import ConfigurationError
from ..observe import _instrument
from . import _adapter
from ._signature import Signature

if TYPE_CHECKING:
    import asyncio

    from ._module import Module
    from ._predict import Predict

T = TypeVar("T")
R_co = TypeVar("R_co", covariant=True)
P = ParamSpec("P")


@dataclass(frozen=True, slots=True)
class FieldDelta:
    """Output ``field`` of the predictor named ``predictor`` (its dotted name, such as
    ``decide`` or ``agent.react``) grew by ``delta``."""

    predictor: str
    field: str
    delta: str


@dataclass(frozen=True, slots=True)
class Status:
    """Something the program is doing besides writing outputs: ``tool`` is the tool an agent
    calls (``message`` says so in words), None for other statuses."""

    predictor: str
    message: str
    tool: str | None = None


@dataclass(frozen=True, slots=True)
class PredictorDone:
    """One predictor call is over: its validated (and guarded) result."""

    predictor: str
    result: Signature


@dataclass(frozen=True, slots=True)
class Finished(Generic[T]):
    """The end of a program's stream: what calling the program would have returned."""

    result: T


ProgramEvent: TypeAlias = FieldDelta | Status | PredictorDone | Finished[T]


@dataclass(frozen=True, slots=True)
class _Failed:
    error: BaseException


Wanted = frozenset[tuple[str, str]] | None  # the (predictor, field) pairs listened to; None: all


class Session:
    """One program stream: names predictors, filters deltas, hands events to the consumer.

    Predictor calls report to it from the event loop, or from worker threads when a
    ``forward`` runs in one (see :meth:`call`).
    """

    def __init__(
        self,
        names: Mapping[int, str],
        wanted: Wanted,
        queue: asyncio.Queue[ProgramEvent[Any] | _Failed],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._names = names
        self._wanted = wanted
        self._queue = queue
        self._loop = loop
        self._thread = threading.get_ident()
        self.cancelled = False  # the consumer went away: worker threads stop at their next piece

    def name(self, predictor: Any) -> str:
        """The dotted name of ``predictor`` in the program; its signature's name for one made
        on the fly (not an attribute of the program)."""
        found = self._names.get(id(predictor))
        return found if found is not None else str(predictor.spec.name)

    def put(self, event: ProgramEvent[Any] | _Failed) -> None:
        if threading.get_ident() == self._thread:
            self._queue.put_nowait(event)
        else:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, event)

    def delta(self, predictor: str, field: str, text: str) -> None:
        if text and (self._wanted is None or (predictor, field) in self._wanted):
            self.put(FieldDelta(predictor, field, text))

    def status(self, source: object, message: str, tool: str | None = None) -> None:
        self.put(Status(self.name(source), message, tool))

    def result(self, predictor: Predict[Any], result: Signature, shown: Collection[str]) -> None:
        """The end of one call: the outputs no delta showed (a guarded call, a native tool
        call) arrive whole, so every output reaches the consumer as deltas."""
        name = self.name(predictor)
        for field in predictor.spec.outputs:
            if field.name not in shown:
                self.delta(name, field.name, _text(field, getattr(result, field.name, None)))
        self.put(PredictorDone(name, result))

    async def acall(self, predictor: Predict[Any], inputs: dict[str, Any]) -> Signature:
        """One predictor call inside the program, streamed."""
        from ._stream import Partial

        name, shown = self.name(predictor), set[str]()
        result: Signature | None = None
        async for event in predictor.astream(**inputs):
            if isinstance(event, Partial):
                shown.add(event.field)
                self.delta(name, event.field, event.delta)
            else:
                result = event.result
        assert result is not None  # a stream always ends with Done
        self.result(predictor, result, shown)
        return result

    def call(self, predictor: Predict[Any], inputs: dict[str, Any]) -> Signature:
        """The synchronous :meth:`acall`, for a ``forward`` that runs in a worker thread."""
        from ._stream import Partial

        name, shown = self.name(predictor), set[str]()
        result: Signature | None = None
        events = predictor.stream(**inputs)
        try:
            for event in events:
                if self.cancelled:
                    raise _cancelled()
                if isinstance(event, Partial):
                    shown.add(event.field)
                    self.delta(name, event.field, event.delta)
                else:
                    result = event.result
        finally:
            events.close()  # type: ignore[attr-defined]  # a generator: closes the HTTP stream
        assert result is not None
        self.result(predictor, result, shown)
        return result


def _cancelled() -> BaseException:
    import asyncio

    return asyncio.CancelledError("the program's stream was closed by its consumer")


def _text(field: Any, value: Any) -> str:
    """A whole output as the text a delta carries: strings as they are, others as JSON."""
    if value is None or isinstance(value, str):
        return value or ""
    return json.dumps(_adapter.to_jsonable(field, value), ensure_ascii=False)


# -- listening -----------------------------------------------------------------------------
def _outputs_by_predictor(module: Module) -> dict[str, tuple[str, ...]]:
    return {name: tuple(f.name for f in p.spec.outputs) for name, p in module.named_predictors()}


def wanted(module: Module, listen: Collection[str]) -> Wanted:
    """The (predictor, field) pairs that ``listen`` names: ``"decide.reply"`` one output,
    ``"decide"`` all of that predictor's. An unknown name is an error naming the known ones."""
    if not listen:
        return None
    known = _outputs_by_predictor(module)
    pairs: set[tuple[str, str]] = set()
    for entry in listen:
        if entry in known:
            pairs.update((entry, field) for field in known[entry])
            continue
        predictor, _, field = entry.rpartition(".")
        if field not in known.get(predictor, ()):
            raise ConfigurationError(_unknown(entry, type(module).__name__, known))
        pairs.add((predictor, field))
    return frozenset(pairs)


def _unknown(entry: str, program: str, known: Mapping[str, tuple[str, ...]]) -> str:
    import difflib  # only on this error path: keeps `import castlm` lean

    names = [f"{p}.{f}" for p, fields in known.items() for f in fields]
    close = difflib.get_close_matches(entry, [*known, *names], n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (
        f"listen: {program} has no predictor output {entry!r}{hint}; listen to a predictor "
        f"({', '.join(known) or 'none'}) or one of its outputs ({', '.join(names) or 'none'})"
    )


# -- running -------------------------------------------------------------------------------
async def events(
    module: Module, args: tuple[Any, ...], kwargs: dict[str, Any], listen: Wanted
) -> AsyncIterator[ProgramEvent[Any]]:
    """The events of one run of ``module``; cancels the run when iteration stops early."""
    import asyncio  # lazily: see LM._asend

    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[ProgramEvent[Any] | _Failed] = asyncio.Queue()
    names = {id(p): name for name, p in module.named_predictors()}
    session = Session(names, listen, queue, loop)
    task = loop.create_task(_run(module, args, kwargs, session))
    try:
        while True:
            event = await queue.get()
            if isinstance(event, _Failed):
                raise event.error
            yield event
            if isinstance(event, Finished):
                return
    finally:
        session.cancelled = True
        if not task.done():
            task.cancel()
            # Wait for the cancellation to unwind: the HTTP stream is closed on the way out.
            await asyncio.gather(task, return_exceptions=True)


async def _run(
    module: Module, args: tuple[Any, ...], kwargs: dict[str, Any], session: Session
) -> None:
    token = _instrument.streaming.set(session)  # this task's own context: nothing leaks out
    try:
        if _is_async_function(getattr(type(module), "forward", None)):
            result = await module.forward(*args, **kwargs)
        else:
            result = await module.acall(*args, **kwargs)
        session.put(Finished(result))
    except Exception as exc:  # the consumer raises it
        session.put(_Failed(exc))
    except BaseException as exc:  # cancelled (by the consumer, or by anything else): say so
        session.put(_Failed(exc))
        raise
    finally:
        _instrument.streaming.reset(token)


def _is_async_function(function: object) -> bool:
    code = getattr(function, "__code__", None)
    return code is not None and bool(code.co_flags & 0x80)  # inspect.CO_COROUTINE


def run_sync(make: Callable[[], AsyncIterator[T]]) -> Iterator[T]:
    """Iterate an async stream on a private event loop in this thread: no worker thread, at
    the cost of that loop's own connection pool. Inside a running event loop, use astream."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise ConfigurationError(
            "program.stream(...) was called inside a running event loop, which it would "
            "block; use `async for event in program.astream(...)` there instead"
        )
    with asyncio.Runner() as runner:
        stream = make()
        try:
            while True:
                try:
                    event = runner.run(_next(stream))
                except StopAsyncIteration:
                    return
                yield event
        finally:
            runner.run(_close(stream))


async def _next(stream: AsyncIterator[T]) -> T:
    return await anext(stream)


async def _close(stream: AsyncIterator[Any]) -> None:
    close = getattr(stream, "aclose", None)
    if close is not None:
        await close()


class ProgramStream(Generic[P, R_co]):
    """A program's ``stream``/``astream`` with deltas filtered to the outputs listened to
    (``program.listen("decide.reply")``); the other events all come through."""

    def __init__(self, module: Module, listen: Wanted) -> None:
        self._module = module
        self._listen = listen

    def astream(self, *args: P.args, **kwargs: P.kwargs) -> AsyncIterator[ProgramEvent[R_co]]:
        """The program's events, asynchronously; the last one is :class:`Finished`."""
        return events(self._module, args, kwargs, self._listen)

    def stream(self, *args: P.args, **kwargs: P.kwargs) -> Iterator[ProgramEvent[R_co]]:
        """The program's events, on a private event loop in this thread (see run_sync)."""
        return run_sync(lambda: self.astream(*args, **kwargs))
