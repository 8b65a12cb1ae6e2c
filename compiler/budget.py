"""LM-call and cost budgets, enforced on every real LM call of a compile.

A :class:`Budget` is installed as the ``send_guard`` of each LM the compile uses, so it sees
every request that goes to a backend (cache hits are free and never reach it) from every
thread, whoever makes it: evaluations, teachers, proposers. When a limit is reached it
raises :class:`BudgetExhausted` and keeps refusing until the pipeline lifts the limit, so a
program or optimizer that swallows the exception cannot spend more; the pipeline checks
:attr:`Budget.stop` after each phase instead of trusting the exception to surface.

The optimize phase runs under a lower limit (:meth:`Budget.keeping`): the compiled
evaluation's expected calls and cost are kept back, so a budget that stops the search still
leaves enough to score what is emitted.

Calls are counted when they are admitted, under a lock, so parallel calls never exceed
``max_calls``. Cost is known only once a call has answered, from the tokens the LMs report;
calls already in flight when the limit is reached may overshoot ``max_cost`` by their own
cost (at most ``threads`` calls).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from castlm import LM, LMRequest

from .errors import CompileError


class BudgetExhausted(CompileError):
    """A compile's LM-call or cost budget ran out (see docs/compiling.md, "Budgets")."""


@dataclass(frozen=True)
class Stop:
    """Why and when a budget refused a call."""

    reason: str
    calls: int
    cost: float | None


class Budget:
    """``max_calls`` real LM calls and ``max_cost`` US dollars for one compile (None: no limit).

    ``spent`` returns the dollars spent so far (None when some LM has no price; the pipeline
    refuses ``max_cost`` then). ``on_stop`` runs once, in the thread whose call was refused.
    """

    def __init__(
        self,
        max_calls: int | None = None,
        max_cost: float | None = None,
        *,
        spent: Callable[[], float | None] = lambda: 0.0,
        on_stop: Callable[[Stop], None] | None = None,
    ) -> None:
        self.max_calls = max_calls
        self.max_cost = max_cost
        self.calls = 0
        self.stop: Stop | None = None
        self._spent = spent
        self._on_stop = on_stop
        self._kept_calls = 0
        self._kept_cost = 0.0
        self._lock = threading.Lock()

    @property
    def limited(self) -> bool:
        return self.max_calls is not None or self.max_cost is not None

    @property
    def cost(self) -> float | None:
        return self._spent()

    def install(self, lms: Sequence[LM]) -> None:
        for lm in lms:
            lm.send_guard = self.admit

    def uninstall(self, lms: Sequence[LM]) -> None:
        for lm in lms:
            if lm.send_guard == self.admit:
                lm.send_guard = None

    def admit(self, lm: LM, request: LMRequest) -> None:
        """The send guard: count the call, or refuse it with :class:`BudgetExhausted`."""
        with self._lock:
            if self.stop is None:
                reason = self._over()
                if reason is None:
                    self.calls += 1
                    return
                self.stop = Stop(reason, self.calls, self._spent())
                stopped_now = True
            else:
                stopped_now = False
            stop = self.stop
        if stopped_now and self._on_stop is not None:
            self._on_stop(stop)
        raise BudgetExhausted(f"{stop.reason}; {lm!r} was refused a request")

    def _over(self) -> str | None:
        if self.max_calls is not None and self.calls >= self.max_calls - self._kept_calls:
            return self._describe_calls()
        if self.max_cost is not None:
            spent = self._spent()
            if spent is not None and spent >= self.max_cost - self._kept_cost:
                return self._describe_cost(spent)
        return None

    def _describe_calls(self) -> str:
        kept = (
            f" ({self._kept_calls} kept back for the compiled evaluation)"
            if self._kept_calls
            else ""
        )
        return f"LM-call budget of {self.max_calls} reached after {self.calls} calls{kept}"

    def _describe_cost(self, spent: float) -> str:
        kept = (
            f" (${self._kept_cost:.4f} kept back for the compiled evaluation)"
            if self._kept_cost
            else ""
        )
        return f"cost budget of ${self.max_cost:.4f} reached after ${spent:.4f}{kept}"

    @contextmanager
    def keeping(self, calls: int, cost: float | None) -> Iterator[None]:
        """Lower both limits by ``calls`` and ``cost`` inside the block (the reserve of a
        later phase). Afterwards the full limits apply again; a stop reached inside the block
        stays in :attr:`stop`, refusing every call, until :meth:`lift`."""
        with self._lock:
            self._kept_calls, self._kept_cost = max(0, calls), max(0.0, cost or 0.0)
        try:
            yield
        finally:
            with self._lock:
                self._kept_calls, self._kept_cost = 0, 0.0

    def lift(self) -> Stop | None:
        """Forget the stop (the limits still apply); returns it."""
        with self._lock:
            stop, self.stop = self.stop, None
        return stop
