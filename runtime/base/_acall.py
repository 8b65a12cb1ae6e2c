"""What the async twin of a ``forward`` calls: kept tiny, because emitted packages import it.

The twins (made at first use by castlm._aforward, or written into emitted packages by the
compiler) turn ``self.step(question=q)`` into ``await acall(self.step, question=q)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

_CO_COROUTINE = 0x80  # inspect.CO_COROUTINE, without importing inspect
# type -> whether it has an ``async def acall`` (predictors, modules, tools, blocking functions)
_async_types: dict[type, bool] = {}


async def acall(func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """``await func.acall(...)`` when ``func`` has an async ``acall``, else ``func(...)``."""
    kind = type(func)
    is_async = _async_types.get(kind)
    if is_async is None:
        code = getattr(getattr(kind, "acall", None), "__code__", None)
        is_async = _async_types[kind] = bool(code is not None and code.co_flags & _CO_COROUTINE)
    if is_async:
        result: R = await func.acall(*args, **kwargs)  # type: ignore[attr-defined]
        return result
    return func(*args, **kwargs)


async def in_thread(func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """``func(...)`` in a worker thread: the twin of a ``forward`` castlm cannot make async."""
    import asyncio  # lazily: see LM._asend

    return await asyncio.to_thread(func, *args, **kwargs)
