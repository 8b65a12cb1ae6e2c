"""``castlm.blocking``: marks a plain function that blocks (disk, a database, a local model).

In ``forward`` a marked function is called as written. In the async twin of ``forward``
(``Module.acall``, the emitted package's ``arun``) it runs in castlm's own bounded thread pool,
so it neither blocks the event loop nor takes the threads of asyncio's default executor,
which name resolution (``getaddrinfo``) and other libraries need.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

#: Threads running blocking functions for every event loop of the process.
BLOCKING_THREADS = 16

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


class Blocking(Generic[P, R]):
    """A function marked with :func:`castlm.blocking`: callable as before, plus ``acall``."""

    def __init__(self, func: Callable[P, R]) -> None:
        self.func = func
        functools.update_wrapper(self, func)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.func(*args, **kwargs)

    async def acall(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the function in castlm's bounded pool, in a copy of the caller's context."""
        call = functools.partial(contextvars.copy_context().run, self.func, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(_executor(), call)

    def __repr__(self) -> str:
        return f"castlm.blocking({self.func!r})"


def blocking(func: Callable[P, R]) -> Blocking[P, R]:
    """Mark ``func`` as blocking: async program runs call it in a bounded thread pool."""
    return Blocking(func)


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(BLOCKING_THREADS, thread_name_prefix="castlm-blocking")
        return _pool
