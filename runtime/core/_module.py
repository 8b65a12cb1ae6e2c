"""Modules: plain Python classes that wire predictors together in ``forward``."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, Protocol, Self, TypeVar, cast

from ..base._errors import ConfigurationError
from ..base._narrow import is_dict, is_list_or_tuple
from ..lm._lm import LM
from ..observe import _instrument
from ._concurrency import BATCH_CONCURRENCY
from ._predict import Predict, PredictorParams

if TYPE_CHECKING:
    from ..observe._guards import Guard
    from ._batch import BatchResult
    from ._program_stream import ProgramEvent, ProgramStream

P = ParamSpec("P")
R_co = TypeVar("R_co", covariant=True)


class _Forward(Protocol[P, R_co]):
    """What a module's calls are typed from: its ``forward`` (see docs/typing.md)."""

    @property
    def forward(self) -> Callable[P, R_co]: ...


def _twin(module: Module) -> Callable[..., Any] | None:
    """castlm._aforward's async twin of ``module.forward``, or None (forward then runs in a
    thread). An emitted package vendors castlm._aforward only when one of its modules has
    no ``aforward`` of its own (the compiler writes one into every module it can)."""
    try:
        from ._aforward import twin  # type: ignore[import-not-found, unused-ignore]
    except ModuleNotFoundError:
        return None
    # cast: the vendored runtime's type checkers may find no castlm._aforward to read.
    return cast("Callable[..., Any] | None", twin(module))


class Module:
    """Base class of programs.

    Predictors are ordinary attributes (also inside nested modules, lists and dicts); each has
    a stable dotted name such as ``route`` or ``hops.0``, which keys its frozen parameters.
    """

    # Not walked for predictors (leading underscore); shared by shallow and deep copies.
    _castlm_guards: tuple[Guard, ...] = ()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    # Calls take forward's parameters and return its type, for mypy and pyright alike: the
    # self-type binds P and R_co to the subclass's own forward.
    def __call__(self: _Forward[P, R_co], *args: P.args, **kwargs: P.kwargs) -> R_co:
        with _instrument.module_call(cast(Module, self)):
            return self.forward(*args, **kwargs)

    async def acall(self: _Forward[P, R_co], *args: P.args, **kwargs: P.kwargs) -> R_co:
        """Run the program asynchronously: ``aforward`` if defined, else the async twin of
        ``forward`` made at first use (castlm._aforward), else ``forward`` in a thread."""
        with _instrument.module_call(cast(Module, self)):
            aforward = getattr(self, "aforward", None)
            if aforward is None:
                aforward = _twin(cast(Module, self))
            if aforward is not None:
                result: R_co = await aforward(*args, **kwargs)
                return result
            import asyncio  # lazily: see LM._asend

            return await asyncio.to_thread(self.forward, *args, **kwargs)

    def stream(
        self: _Forward[P, R_co], *args: P.args, **kwargs: P.kwargs
    ) -> Iterator[ProgramEvent[R_co]]:
        """Run the program, yielding every inner predictor's output fields as they arrive
        (:class:`castlm.FieldDelta`), statuses and each predictor's result, and last
        :class:`castlm.Finished` with what a call returns (see :meth:`listen`). It runs the
        async twin of ``forward`` on a private event loop in this thread."""
        return cast(Module, self).listen().stream(*args, **kwargs)

    def astream(
        self: _Forward[P, R_co], *args: P.args, **kwargs: P.kwargs
    ) -> AsyncIterator[ProgramEvent[R_co]]:
        """The asynchronous :meth:`stream`; closing it early cancels the program."""
        return cast(Module, self).listen().astream(*args, **kwargs)

    def listen(self: _Forward[P, R_co], *outputs: str) -> ProgramStream[P, R_co]:
        """``stream``/``astream`` whose deltas are only those of ``outputs``: dotted names of a
        predictor (``"decide"``) or of one of its outputs (``"decide.reply"``). An unknown
        name raises ConfigurationError here, before any LM call."""
        from ._program_stream import ProgramStream, wanted

        module = cast(Module, self)
        return ProgramStream(module, wanted(module, outputs))

    def batch(
        self: _Forward[P, R_co],
        inputs: Sequence[Mapping[str, Any]],
        *,
        concurrency: int = BATCH_CONCURRENCY,
    ) -> BatchResult[R_co]:
        """Run the program once per input on ``concurrency`` threads (see castlm.batch)."""
        from ._batch import batch

        return batch(cast(Module, self), inputs, concurrency=concurrency)

    async def abatch(
        self: _Forward[P, R_co],
        inputs: Sequence[Mapping[str, Any]],
        *,
        concurrency: int = BATCH_CONCURRENCY,
    ) -> BatchResult[R_co]:
        """Run the program once per input, ``concurrency`` at a time (see castlm.abatch)."""
        from ._batch import abatch

        return await abatch(cast(Module, self), inputs, concurrency=concurrency)

    def add_guard(self, guard: Guard) -> Self:
        """Run ``guard`` on every predictor call made while this module runs (nested modules
        included); returns the module, for chaining."""
        # Imported for its side effect: loaded from here on (see _instrument.module_call).
        from ..observe import _guards  # noqa: F401  # pyright: ignore[reportUnusedImport]

        self._castlm_guards = (*self._castlm_guards, guard)
        return self

    # -- structure -----------------------------------------------------------------------
    def named_predictors(self) -> list[tuple[str, Predict[Any, ...]]]:
        """Every predictor with its dotted name, in declaration order, each once."""
        seen: set[int] = set()
        found: list[tuple[str, Predict[Any]]] = []
        for name, predictor in _walk(self, "", {id(self)}):
            if id(predictor) not in seen:
                seen.add(id(predictor))
                found.append((name, predictor))
        return found

    def predictors(self) -> list[Predict[Any, ...]]:
        return [p for _, p in self.named_predictors()]

    def predictor(self, name: str) -> Predict[Any, ...]:
        named = dict(self.named_predictors())
        if name not in named:
            raise KeyError(_unknown(name, named))
        return named[name]

    # -- parameters ----------------------------------------------------------------------
    def get_params(self) -> dict[str, PredictorParams]:
        return {name: p.params for name, p in self.named_predictors()}

    def set_params(self, params: Mapping[str, PredictorParams]) -> None:
        """Load parameters by predictor name; an unknown name is an error, not a no-op."""
        named = dict(self.named_predictors())
        for name in params:
            if name not in named:
                raise ConfigurationError(_unknown(name, named))
        for name, value in params.items():
            named[name].params = value

    def reset_params(self) -> None:
        for p in self.predictors():
            p.reset()

    def set_lm(self, lm: LM | None) -> None:
        """Use ``lm`` for every predictor of this program."""
        for p in self.predictors():
            p.lm = lm

    def deepcopy(self) -> Self:
        """A copy whose parameters can change without touching this one (LMs are shared)."""
        return copy.deepcopy(self)

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={p!r}" for n, p in self.named_predictors())
        return f"{type(self).__name__}({inner})"


T = TypeVar("T")


class TypedModule(Module, Generic[T]):
    """A module generic in what it answers (``T``).

    castlm's compound modules (ReAct, CodeAct, ProgramOfThought, MultiChainComparison) derive
    from it; their ``forward`` returns ``T``, so ``agent(question=...)`` is typed as ``T`` by
    Module's own call typing.
    """


def _walk(value: Any, prefix: str, seen: set[int]) -> Iterator[tuple[str, Predict[Any]]]:
    if isinstance(value, Predict):
        yield prefix, value
    elif isinstance(value, Module):
        for attr, child in vars(value).items():
            if not attr.startswith("_"):
                yield from _walk_child(child, _join(prefix, attr), seen)
    elif is_list_or_tuple(value):
        for i, child in enumerate(value):
            yield from _walk_child(child, _join(prefix, str(i)), seen)
    elif is_dict(value):
        for key, child in value.items():
            yield from _walk_child(child, _join(prefix, str(key)), seen)


def _walk_child(child: Any, name: str, seen: set[int]) -> Iterator[tuple[str, Predict[Any]]]:
    if isinstance(child, Module):
        if id(child) in seen:  # a module that refers back to a parent
            return
        seen = seen | {id(child)}
    yield from _walk(child, name, seen)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _unknown(name: str, named: Mapping[str, Any]) -> str:
    import difflib  # only on this error path: keeps `import castlm` lean

    close = difflib.get_close_matches(name, list(named), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"the program has no predictor {name!r}{hint}; it has {sorted(named)}"
