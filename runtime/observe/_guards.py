"""Guards (validate or rewrite a predictor's inputs and outputs) and audit hooks.

A guard attached to a predictor runs on each of its calls; one attached to a module runs on
every predictor call made while the module runs, nested modules included. Input guards run
before the prompt is rendered, so nothing they remove (say, an e-mail address) reaches the
LM, the cache, the audit log or a trace. Output guards run after the reply is parsed and
validated, before the result is returned.

Audit hooks are process-wide: they see every LM request and its reply (or error), including
answers served from the cache (``cached=True``), whichever thread or task made them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..lm._lm import LM, LMRequest, LMResponse


class Guard:
    """Base class of guards; override one or both methods.

    Return the (possibly rewritten) values, keeping each field's type, or raise
    :class:`castlm.GuardError` to reject the call. ``predictor`` is the Predict being called.
    """

    def check_inputs(self, predictor: Any, inputs: dict[str, Any]) -> dict[str, Any]:
        return inputs

    def check_outputs(self, predictor: Any, outputs: dict[str, Any]) -> dict[str, Any]:
        return outputs

    @property
    def checks_outputs(self) -> bool:
        """Whether this guard looks at outputs (streams then hold partial text back)."""
        return type(self).check_outputs is not Guard.check_outputs


_module_guards: ContextVar[tuple[Guard, ...]] = ContextVar("castlm_guards", default=())


def active(own: tuple[Guard, ...]) -> tuple[Guard, ...]:
    """The guards of one predictor call: those of the running modules, then its own."""
    outer = _module_guards.get()
    return (*outer, *own) if outer else own


@contextmanager
def guarding(guards: tuple[Guard, ...]) -> Generator[None, None, None]:
    """Apply ``guards`` to every predictor call inside the block (a module's guards)."""
    if not guards:
        yield
        return
    token = _module_guards.set((*_module_guards.get(), *guards))
    try:
        yield
    finally:
        _module_guards.reset(token)


def check_inputs(
    guards: tuple[Guard, ...], predictor: Any, values: dict[str, Any]
) -> dict[str, Any]:
    for guard in guards:
        values = guard.check_inputs(predictor, values)
    return values


def check_outputs(
    guards: tuple[Guard, ...], predictor: Any, values: dict[str, Any]
) -> dict[str, Any]:
    for guard in guards:
        values = guard.check_outputs(predictor, values)
    return values


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One LM request and how it ended: a ``response`` or an ``error``.

    ``predictor`` is the Predict that made the call (None for a direct LM call);
    ``seconds`` is the wall time of the request (near zero for a cache hit).
    """

    lm: LM
    request: LMRequest
    response: LMResponse | None
    error: BaseException | None
    cached: bool
    predictor: Any
    seconds: float


AuditHook = Callable[[AuditRecord], None]

_hooks: tuple[AuditHook, ...] = ()
_hooks_lock = threading.Lock()


def add_audit_hook(hook: AuditHook) -> Callable[[], None]:
    """Call ``hook`` with an :class:`AuditRecord` after every LM request; returns a function
    that removes it. An exception raised by a hook propagates to the caller, as an audit
    failure must not pass unnoticed."""
    global _hooks
    with _hooks_lock:
        _hooks = (*_hooks, hook)

    def remove() -> None:
        global _hooks
        with _hooks_lock:
            _hooks = tuple(h for h in _hooks if h is not hook)

    return remove


def audit_hooks() -> tuple[AuditHook, ...]:
    return _hooks
