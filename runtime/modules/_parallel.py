"""Parallel: one module over many inputs, inside a program, with bounded concurrency.

``self.fan = cl.Parallel(self.answer, concurrency=4)`` then ``self.fan(rows)`` runs
``self.answer(**row)`` for every row at once (threads; ``acall`` runs asyncio tasks) and returns
a :class:`castlm.BatchResult`: one ``Ok``/``Err`` per row, in the rows' order, so one failing row
never hides the others. It is :func:`castlm.batch` as a module: the wrapped module's predictors
are the program's (``fan.module...`` unless the module is also an attribute of its own).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from ..base._errors import ConfigurationError
from ..core._batch import BatchResult, abatch, batch
from ..core._concurrency import BATCH_CONCURRENCY
from ..core._module import Module

T = TypeVar("T")


class Parallel(Module, Generic[T]):
    """Runs ``module`` once per input row, ``concurrency`` at a time."""

    def __init__(self, module: Callable[..., T], *, concurrency: int = BATCH_CONCURRENCY) -> None:
        if concurrency < 1:
            raise ConfigurationError("Parallel: concurrency must be at least 1")
        self.module = module
        self.concurrency = concurrency

    def __call__(self, *args: Any, **kwargs: Any) -> BatchResult[T]:
        result: BatchResult[T] = super().__call__(*args, **kwargs)
        return result

    async def acall(self, *args: Any, **kwargs: Any) -> BatchResult[T]:
        result: BatchResult[T] = await super().acall(*args, **kwargs)
        return result

    def forward(self, inputs: Sequence[Mapping[str, Any]]) -> BatchResult[T]:
        return batch(self.module, inputs, concurrency=self.concurrency)

    async def aforward(self, inputs: Sequence[Mapping[str, Any]]) -> BatchResult[T]:
        return await abatch(self.module, inputs, concurrency=self.concurrency)
