"""What happens around every module, predictor and LM call: spans, usage records, audit.

Each observer is optional (no open usage report, no audit hook, tracing off or opentelemetry
missing); when none is active, an LM call costs one context-variable read and no allocation.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from . import _guards, _otel, _usage

if TYPE_CHECKING:
    from ._lm import LM, LMRequest, LMResponse

# The Predict whose LM call is in progress, so LM-level records can name it.
_caller: ContextVar[Any] = ContextVar("castlm_caller", default=None)


class LMCall:
    """The observers of one LM request, captured when it starts (so a stream consumed later,
    or elsewhere, still reports to the context it was started in)."""

    __slots__ = ("_caller", "_hooks", "_lm", "_reports", "_request", "_span", "_started")

    def __init__(
        self,
        lm: LM,
        request: LMRequest,
        span: Any,
        reports: tuple[_usage.UsageReport, ...],
        hooks: tuple[_guards.AuditHook, ...],
    ) -> None:
        self._lm = lm
        self._request = request
        self._span = span
        self._reports = reports
        self._hooks = hooks
        self._caller = _caller.get()
        self._started = time.perf_counter()

    def finish(self, response: LMResponse) -> None:
        self._close(response, None)

    def fail(self, error: BaseException) -> None:
        self._close(None, error)

    def _close(self, response: LMResponse | None, error: BaseException | None) -> None:
        if self._span is not None:
            _otel.end_lm_span(self._span, response, error)
        if response is not None and self._reports:
            record = _usage.LMCallRecord(
                model=response.model or self._request.model,
                prompt_tokens=response.usage.prompt_tokens,
                completion_tokens=response.usage.completion_tokens,
                cached=response.cached,
                predictor=self._caller,
                signature=getattr(getattr(self._caller, "spec", None), "name", None),
            )
            for report in self._reports:
                report.add(record)
        if self._hooks:
            self._audit(response, error)

    def _audit(self, response: LMResponse | None, error: BaseException | None) -> None:
        record = _guards.AuditRecord(
            lm=self._lm,
            request=self._request,
            response=response,
            error=error,
            cached=response is not None and response.cached,
            predictor=self._caller,
            seconds=time.perf_counter() - self._started,
        )
        for hook in self._hooks:
            hook(record)


def observe(lm: LM, request: LMRequest, *, streaming: bool = False) -> LMCall | None:
    """Start observing one LM request; None when nothing observes it."""
    reports = _usage.active()
    hooks = _guards.audit_hooks()
    span = _otel.start_lm_span(lm, request, streaming=streaming)
    if span is None and not reports and not hooks:
        return None
    return LMCall(lm, request, span, reports, hooks)


@contextmanager
def predictor_call(predictor: Any) -> Iterator[None]:
    """Around one predictor call: names it for LM records and opens its span."""
    token = _caller.set(predictor)
    try:
        if _otel.tracer() is None:  # checked first: the span's name and attributes cost too
            yield
        else:
            with _otel.start_span(f"castlm.predict {predictor.spec.name}", _attrs(predictor)):
                yield
    finally:
        _caller.reset(token)


@contextmanager
def calling(predictor: Any, span: Any) -> Iterator[None]:
    """Like :func:`predictor_call` with a span started elsewhere (a stream's), for the
    synchronous stretch in which an LM request is started."""
    token = _caller.set(predictor)
    try:
        if span is None:
            yield
        else:
            with _otel.use_span(span):
                yield
    finally:
        _caller.reset(token)


def stream_span(predictor: Any) -> Any:
    if _otel.tracer() is None:
        return None
    return _otel.start_detached_span(
        f"castlm.predict {predictor.spec.name}", {**_attrs(predictor), "castlm.stream": True}
    )


@contextmanager
def module_call(module: Any) -> Iterator[None]:
    """Around one module call: its span, and its guards over the predictors it calls."""
    guards: tuple[_guards.Guard, ...] = getattr(module, "_castlm_guards", ())
    with _guards.guarding(guards):
        if _otel.tracer() is None:
            yield
        else:
            name = f"castlm.module {type(module).__name__}"
            with _otel.start_span(name, {"castlm.module": type(module).__qualname__}):
                yield


def _attrs(predictor: Any) -> dict[str, Any]:
    return {"castlm.signature": predictor.spec.name, "castlm.predictor": type(predictor).__name__}
