"""What happens around every module, predictor and LM call: spans, usage records, audit.

Each observer is optional (no open usage report, no audit hook, tracing off or opentelemetry
missing); when none is active, an LM call costs one context-variable read and no allocation.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Generator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..lm._lm import LM, LMRequest, LMResponse
    from . import _guards, _usage

# The observers' modules load on first use, not with the package (import time and memory
# count for every program). Until ``_usage`` / ``_guards`` is imported, no usage report,
# guard or audit hook can exist, so an unloaded module means "nothing to do" at the cost of
# one dict lookup; ``_otel`` is loaded by the first call that asks for a tracer.
_PACKAGE = __name__.rpartition(".")[0]
_USAGE = f"{_PACKAGE}._usage"
_GUARDS = f"{_PACKAGE}._guards"
_otel_module: Any = None


def _otel() -> Any:
    """The ``_otel`` module, imported on first use."""
    global _otel_module
    if _otel_module is None:
        from . import _otel as module

        _otel_module = module
    return _otel_module


def active_guards(own: tuple[_guards.Guard, ...]) -> tuple[_guards.Guard, ...]:
    """The guards of one predictor call (see ``_guards.active``), without loading
    ``_guards`` when no guard exists."""
    guards = sys.modules.get(_GUARDS)
    if guards is None:
        return own  # a predictor's own guards load _guards when added (add_guard)
    found: tuple[_guards.Guard, ...] = guards.active(own)
    return found


# The Predict whose LM call is in progress, so LM-level records can name it.
_caller: ContextVar[Any] = ContextVar("castlm_caller", default=None)
# The program stream (castlm.core._program_stream.Session) that predictor calls report to, if any.
streaming: ContextVar[Any] = ContextVar("castlm_streaming", default=None)


def stream_status(source: Any, message: str, tool: str | None = None) -> None:
    """Tell the program stream in progress, if any, what ``source`` is doing."""
    session = streaming.get()
    if session is not None:
        session.status(source, message, tool)


def stream_result(predictor: Any, result: Any) -> None:
    """Hand a predictor result that did not stream (a native tool call) to the program
    stream in progress, if any, as whole outputs."""
    session = streaming.get()
    if session is not None:
        session.result(predictor, result, ())


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
            _otel().end_lm_span(self._span, response, error)
        if response is not None and self._reports:
            from ._usage import LMCallRecord

            record = LMCallRecord(
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
        from ._guards import AuditRecord

        record = AuditRecord(
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
    usage = sys.modules.get(_USAGE)
    reports: tuple[_usage.UsageReport, ...] = usage.active() if usage is not None else ()
    guards = sys.modules.get(_GUARDS)
    hooks: tuple[_guards.AuditHook, ...] = guards.audit_hooks() if guards is not None else ()
    span = _otel().start_lm_span(lm, request, streaming=streaming)
    if span is None and not reports and not hooks:
        return None
    return LMCall(lm, request, span, reports, hooks)


class _Scope:
    """Around one module or predictor call: what a ``@contextmanager`` generator did, in one
    small object. Every call of every predictor and module enters one, so the generator, its
    frame and its wrapper (four objects for the garbage collector) were worth saving."""

    __slots__ = ("_caller", "_stack", "_target", "_token")

    def __init__(self, target: Any, caller: bool) -> None:
        self._target = target
        self._caller = caller  # a predictor: name it as the caller of its LM requests
        self._stack: ExitStack | None = None
        self._token: Token[Any] | None = None

    def __enter__(self) -> None:
        target = self._target
        if self._caller:
            self._token = _caller.set(target)
        guards: tuple[_guards.Guard, ...] = (
            () if self._caller else getattr(target, "_castlm_guards", ())
        )
        # No guards and no tracer (the usual case): nothing to enter. The tracer is checked
        # first: the span's name and attributes cost too.
        traced = _otel().tracer() is not None
        if not guards and not traced:
            return
        try:
            with ExitStack() as stack:
                if guards:
                    stack.enter_context(_guarding(guards))
                if traced:
                    stack.enter_context(self._span())
                self._stack = stack.pop_all()
        except BaseException:
            self._reset()
            raise

    def _span(self) -> Any:
        target = self._target
        if self._caller:
            return _otel().start_span(f"castlm.predict {target.spec.name}", _attrs(target))
        name = f"castlm.module {type(target).__name__}"
        return _otel().start_span(name, {"castlm.module": type(target).__qualname__})

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: Any
    ) -> None:
        stack, self._stack = self._stack, None
        try:
            if stack is not None:  # spans record an error; none of them swallows it
                stack.__exit__(kind, error, tb)
        finally:
            self._reset()

    def _reset(self) -> None:
        token, self._token = self._token, None
        if token is not None:
            _caller.reset(token)


def predictor_call(predictor: Any) -> _Scope:
    """Around one predictor call: names it for LM records and opens its span."""
    return _Scope(predictor, True)


@contextmanager
def calling(predictor: Any, span: Any) -> Generator[None, None, None]:
    """Like :func:`predictor_call` with a span started elsewhere (a stream's), for the
    synchronous stretch in which an LM request is started."""
    token = _caller.set(predictor)
    try:
        if span is None:
            yield
        else:
            with _otel().use_span(span):
                yield
    finally:
        _caller.reset(token)


def stream_span(predictor: Any) -> Any:
    if _otel().tracer() is None:
        return None
    return _otel().start_detached_span(
        f"castlm.predict {predictor.spec.name}", {**_attrs(predictor), "castlm.stream": True}
    )


def module_call(module: Any) -> _Scope:
    """Around one module call: its span, and its guards over the predictors it calls."""
    return _Scope(module, False)


def _guarding(guards: tuple[_guards.Guard, ...]) -> Any:
    from ._guards import guarding

    return guarding(guards)


def _attrs(predictor: Any) -> dict[str, Any]:
    return {"castlm.signature": predictor.spec.name, "castlm.predictor": type(predictor).__name__}
