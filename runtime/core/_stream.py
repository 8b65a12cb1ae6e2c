"""Streaming a predictor call: output fields as they arrive, then the validated result.

``predictor.stream(**inputs)`` yields :class:`Partial` events while the reply arrives (each
names the output field that grew and by what, with every field's text so far and the typed
values of the fields already complete) and ends with one :class:`Done` holding the validated
signature instance, exactly what calling the predictor would have returned. A
ChainOfThought's ``reasoning`` streams first, as it comes first in the reply.

When the LM cannot stream (or the answer comes from the cache) the whole reply arrives as one
piece; when output guards are attached, no partial text is shown (a guard may need to redact
it), only the final result.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeAlias, TypeVar

from pydantic import TypeAdapter, ValidationError

from ..base._errors import ParseError
from ..lm._lm import LM, LMRequest, LMResponse, Message
from ..observe import _guards, _instrument, _otel
from . import _adapter
from ._fields_reader import Delta, FieldReader, reader_for
from ._signature import FieldSpec, Signature

if TYPE_CHECKING:
    from ._context import CallContext
    from ._predict import Predict

S = TypeVar("S", bound=Signature)


@dataclass(frozen=True, slots=True)
class Partial(Generic[S]):
    """Output field ``field`` grew by ``delta``.

    ``text`` holds every started output's text so far; ``values`` the outputs whose text is
    complete, validated to their declared types (a field that fails validation is left out;
    the final result will say why).
    """

    field: str
    delta: str
    text: Mapping[str, str]
    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Done(Generic[S]):
    """The end of a stream: the validated result and the LM response it came from."""

    result: S
    response: LMResponse


StreamEvent: TypeAlias = Partial[S] | Done[S]

Prepared = tuple[dict[str, Any], tuple[Message, ...], LMRequest, LM, "CallContext"]


class _Events(Generic[S]):
    """Turns text deltas into Partial events for one call."""

    def __init__(self, predictor: Predict[S], shown: bool) -> None:
        self.reader: FieldReader = reader_for(predictor.adapter, predictor.spec)
        self.fields = predictor.spec.fields
        self.shown = shown
        self.fed = False
        self._values: dict[str, Any] = {}

    def feed(self, text: str) -> list[Partial[S]]:
        self.fed = True
        return self._partials(self.reader.feed(text))

    def finish(self, response: LMResponse) -> list[Partial[S]]:
        early = [] if self.fed else self.feed(response.text)
        return early + self._partials(self.reader.finish())

    def _partials(self, deltas: list[Delta]) -> list[Partial[S]]:
        if not self.shown or not deltas:
            return []
        self._validate_completed()
        text, values = dict(self.reader.texts), dict(self._values)
        return [Partial(name, piece, text, values) for name, piece in deltas]

    def _validate_completed(self) -> None:
        for name in self.reader.completed:
            if name not in self._values:
                value = _typed(self.fields[name], self.reader, name)
                if value is not _INVALID:
                    self._values[name] = value


_INVALID: Any = object()


def _typed(field: FieldSpec, reader: FieldReader, name: str) -> Any:
    if name in reader.values:
        raw = reader.values[name]
    else:
        raw = _adapter._read_value(field, reader.texts.get(name, ""))
    try:
        return _validator(field).validate_python(raw)
    except ValidationError:
        return _INVALID


@cache
def _validator(field: FieldSpec) -> TypeAdapter[Any]:
    # The field's own constraints (ge=, max_length=...) travel in its FieldInfo.
    annotation: Any = Annotated[field.annotation, field.info]
    return TypeAdapter(annotation)


def run(
    predictor: Predict[S], prepared: Prepared, guards: tuple[_guards.Guard, ...]
) -> Iterator[StreamEvent[S]]:
    """The events of one streamed call (sync); ``guards`` apply to its outputs."""
    values, messages, request, lm, ctx = prepared
    span = _instrument.stream_span(predictor)
    try:
        events = _Events(predictor, shown=not any(g.checks_outputs for g in guards))
        with _instrument.calling(predictor, span):
            pieces = lm.stream(request, use_cache=ctx.use_cache)
        response: LMResponse | None = None
        for piece in pieces:
            if isinstance(piece, LMResponse):
                response = piece
            else:
                yield from events.feed(piece)
        assert response is not None  # LM.stream always ends with the response
        yield from events.finish(response)
        with _instrument.calling(predictor, span):
            outputs, response = _parse(predictor, values, request, response, lm, ctx)
        yield Done(predictor._finish(values, outputs, messages, response, ctx, guards), response)
    except GeneratorExit:
        _end(span, None)
        raise
    except BaseException as exc:
        _end(span, exc)
        raise
    _end(span, None)


async def arun(
    predictor: Predict[S], prepared: Prepared, guards: tuple[_guards.Guard, ...]
) -> AsyncIterator[StreamEvent[S]]:
    """The events of one streamed call (async); ``guards`` apply to its outputs."""
    values, messages, request, lm, ctx = prepared
    span = _instrument.stream_span(predictor)
    try:
        events = _Events(predictor, shown=not any(g.checks_outputs for g in guards))
        with _instrument.calling(predictor, span):
            pieces = lm.astream(request, use_cache=ctx.use_cache)
        response: LMResponse | None = None
        async for piece in pieces:
            if isinstance(piece, LMResponse):
                response = piece
            else:
                for event in events.feed(piece):
                    yield event
        assert response is not None
        for event in events.finish(response):
            yield event
        with _instrument.calling(predictor, span):
            outputs, response = await _aparse(predictor, values, request, response, lm, ctx)
        yield Done(predictor._finish(values, outputs, messages, response, ctx, guards), response)
    except GeneratorExit:
        _end(span, None)
        raise
    except BaseException as exc:
        _end(span, exc)
        raise
    _end(span, None)


def _end(span: Any, error: BaseException | None) -> None:
    if span is not None:
        _otel.end_span(span, error)


def _parse(
    predictor: Predict[Any],
    values: Mapping[str, Any],
    request: LMRequest,
    response: LMResponse,
    lm: LM,
    ctx: CallContext,
) -> tuple[dict[str, Any], LMResponse]:
    """The validated outputs; a rejected reply gets the same retries as a plain call."""
    failures: list[ParseError] = []
    while isinstance(
        step := predictor._read_or_retry(values, request, response, failures), LMRequest
    ):
        request = step
        response = lm.complete(request, use_cache=ctx.use_cache)
    return step, response


async def _aparse(
    predictor: Predict[Any],
    values: Mapping[str, Any],
    request: LMRequest,
    response: LMResponse,
    lm: LM,
    ctx: CallContext,
) -> tuple[dict[str, Any], LMResponse]:
    failures: list[ParseError] = []
    while isinstance(
        step := predictor._read_or_retry(values, request, response, failures), LMRequest
    ):
        request = step
        response = await lm.acomplete(request, use_cache=ctx.use_cache)
    return step, response
