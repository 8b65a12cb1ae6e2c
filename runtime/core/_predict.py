"""Predictors: one signature, its learnable parameters, and one LM call per invocation."""

from __future__ import annotations

import types
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import (
    TYPE_CHECKING,
    Any,
    Generic,
    Literal,
    Protocol,
    Self,
    TypeVar,
    Union,
    cast,
    get_args,
    get_origin,
)

from pydantic import ValidationError
from typing_extensions import ParamSpec

from ..base._errors import ConfigurationError, InputError, ParseError
from ..base._features import not_vendored
from ..base._unicode import surrogate_in
from ..lm._lm import LM, LMRequest, LMResponse, Message, fixed
from ..observe import _instrument
from . import _adapter, _adapter_protocol
from ._concurrency import BATCH_CONCURRENCY
from ._context import CallContext, TraceStep, current
from ._cut_off import shorter_request
from ._signature import Signature, SignatureSpec, run_validators, spec_of, with_reasoning

if TYPE_CHECKING:
    from ..observe import _guards
    from ._batch import BatchResult
    from ._stream import StreamEvent

S = TypeVar("S", bound=Signature)
# The keywords of a call: the signature's inputs, captured from its constructor (see
# _signature._SignatureMeta). `Predict[Triage]` leaves them open (`...`).
P = ParamSpec("P", default=...)

AdapterMode = Literal["auto", "chat", "json"]
# A built-in adapter's name, or an adapter object (castlm.AdapterProtocol or an Adapter).
AdapterArg = AdapterMode | _adapter_protocol.AdapterProtocol | _adapter.Adapter

REASONING_DESC = "Think step by step about the inputs before giving the other outputs."

# How many times a reply that cannot be read (or that a validator rejects) is sent back to
# the LM with the error before the call raises ParseError.
PARSE_RETRIES = 1


class DemoPicker(Protocol):
    """Demos chosen per call (``castlm.KNNDemos``). Predict reaches KNN only through its
    parameters and never imports it, so a package without KNN demos does not vendor it."""

    def prefix_for(
        self, predictor: Predict[Any], values: Mapping[str, Any]
    ) -> tuple[Message, ...]: ...


@dataclass(frozen=True)
class PredictorParams:
    """What optimizers learn for one predictor: its instruction and its demonstrations.

    Demo values are plain JSON data, so parameters can be frozen as Python literals.
    ``model`` is the model the predictor asks its LM for instead of the LM's own (a
    fine-tuned model id); ``knn`` adds demos chosen per call by similarity to the inputs.
    """

    instructions: str
    demos: tuple[Mapping[str, Any], ...] = ()
    model: str | None = None
    knn: DemoPicker | None = None


class Predict(Generic[S, P]):
    """Calls an LM once per invocation and returns an instance of the signature.

    ``Predict(Triage)(ticket="...")`` returns a ``Triage`` whose outputs are validated
    against their declared types; mypy and pyright check the call's keywords and their
    types against Triage's input fields.
    """

    _castlm_guards: tuple[_guards.Guard, ...] = ()
    _history_fields: tuple[str, ...] = ()

    def __init__(
        self,
        signature: Callable[P, S],
        *,
        instructions: str | None = None,
        demos: Sequence[Mapping[str, Any]] = (),
        lm: LM | None = None,
        adapter: AdapterArg = "auto",
        temperature: float | None = None,
        max_tokens: int | None = None,
        parse_retries: int = PARSE_RETRIES,
    ) -> None:
        # A Signature class, typed as its constructor so that P captures its inputs.
        self.signature: type[S] = self._effective_signature(cast("type[S]", signature))
        self.spec: SignatureSpec = spec_of(self.signature)
        self.lm = lm
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.parse_retries: int = _checked_retries(parse_retries)
        # "auto", "chat", "json", or "custom" for an adapter object; a bad one raises here.
        mode, chosen = _adapter_protocol.resolve(self.spec, adapter)
        self._adapter_mode: str = mode
        self.adapter: _adapter.Adapter = chosen
        self._instructions = self.spec.instructions if instructions is None else instructions
        self._demos = self.normalize_demos(demos)
        self._prefix: tuple[Message, ...] | None = None
        self._suffix = self.adapter.suffix(self.spec)
        # The response format depends only on the adapter and the signature: computed on the
        # first call (pydantic's JSON schema costs far more than the rest of a call).
        self.model: str | None = None
        self.knn: DemoPicker | None = None
        self._knn_picker: object = None
        self._history_fields = tuple(f.name for f in self.spec.inputs if _is_history(f.annotation))

    def _effective_signature(self, signature: type[S]) -> type[S]:
        return signature

    # -- learnable parameters ------------------------------------------------------------
    @property
    def instructions(self) -> str:
        return self._instructions

    @instructions.setter
    def instructions(self, value: str) -> None:
        self._instructions = value
        self._prefix = None

    @property
    def demos(self) -> tuple[Mapping[str, Any], ...]:
        return self._demos

    @demos.setter
    def demos(self, value: Sequence[Mapping[str, Any]]) -> None:
        self._demos = self.normalize_demos(value)
        self._prefix = None

    @property
    def params(self) -> PredictorParams:
        return PredictorParams(self._instructions, self._demos, self.model, self.knn)

    @params.setter
    def params(self, value: PredictorParams) -> None:
        self._instructions = value.instructions
        self._demos = self.normalize_demos(value.demos)
        self.model = value.model
        self.knn = value.knn
        self._prefix = None

    def reset(self) -> None:
        """Back to the signature's own instruction and no demos."""
        self.params = PredictorParams(self.spec.instructions)

    def normalize_demos(self, demos: Sequence[Mapping[str, Any]]) -> tuple[Mapping[str, Any], ...]:
        """Demos as plain JSON data restricted to this signature's fields (how params keep them)."""
        fields = self.spec.fields
        return tuple(
            {k: _adapter.to_jsonable(fields[k], v) for k, v in demo.items() if k in fields}
            for demo in demos
        )

    # -- prompts -------------------------------------------------------------------------
    def prefix(self) -> tuple[Message, ...]:
        """The constant messages (system prompt and demos), rendered once per parameter set."""
        if self._prefix is None:
            # Fixed: the HTTP client keeps their JSON (see FixedMessage).
            self._prefix = fixed(self.adapter.prefix(self.spec, self._instructions, self._demos))
        return self._prefix

    def response_format(self) -> dict[str, Any] | None:
        """The structured-output format requests carry (built once per signature)."""
        return self.adapter.response_format(self.spec)

    def messages(self, **inputs: Any) -> list[Message]:
        """The exact messages one call with these inputs sends."""
        return list(self._render(self._checked_inputs(inputs)))

    def _render(self, values: dict[str, Any]) -> tuple[Message, ...]:
        if not self._history_fields:
            user = self.adapter.user_message(self.spec, values, self._suffix)
            return (*self._demo_prefix(values), user)
        try:
            from ._history import render  # type: ignore[import-not-found, unused-ignore]
        except ModuleNotFoundError as exc:  # a package whose program has no History field
            raise not_vendored("history", "a History input", exc) from exc

        # cast: the vendored runtime's type checkers may find no _history to read.
        turns, current_inputs = cast(
            "tuple[Sequence[Message], dict[str, Any]]",
            render(self.spec, self.adapter, values, self._history_fields),
        )
        user = self.adapter.user_message(self.spec, current_inputs, self._suffix)
        return (*self._demo_prefix(values), *turns, user)

    def _demo_prefix(self, values: Mapping[str, Any]) -> tuple[Message, ...]:
        if self.knn is None:
            return self.prefix()
        return self.knn.prefix_for(self, values)

    # -- guards --------------------------------------------------------------------------
    @property
    def guards(self) -> tuple[_guards.Guard, ...]:
        return self._castlm_guards

    def add_guard(self, guard: _guards.Guard) -> Self:
        """Run ``guard`` on every call of this predictor (after the guards of the modules
        it runs in); returns the predictor, for chaining."""
        # Imported for its side effect: loaded from here on (see active_guards).
        from ..observe import _guards  # noqa: F401  # pyright: ignore[reportUnusedImport]

        self._castlm_guards = (*self._castlm_guards, guard)
        return self

    # -- calling -------------------------------------------------------------------------
    def __call__(self, *args: P.args, **inputs: P.kwargs) -> S:
        _keywords_only(self, args)
        if (session := _instrument.streaming.get()) is not None:  # inside program.stream()
            streamed: S = session.call(self, inputs)
            return streamed
        with _instrument.predictor_call(self):
            values, messages, request, lm, ctx = self._prepare(inputs)
            response = lm.complete(request, use_cache=ctx.use_cache)
            failures: list[ParseError] = []
            while isinstance(
                step := self._read_or_retry(values, request, response, failures), LMRequest
            ):
                request = step
                response = lm.complete(request, use_cache=ctx.use_cache)
            return self._finish(values, step, messages, response, ctx)

    async def acall(self, *args: P.args, **inputs: P.kwargs) -> S:
        _keywords_only(self, args)
        if (session := _instrument.streaming.get()) is not None:  # inside program.astream()
            streamed: S = await session.acall(self, inputs)
            return streamed
        with _instrument.predictor_call(self):
            if self.knn is None:
                values, messages, request, lm, ctx = self._prepare(inputs)
            else:  # choosing demos embeds the inputs: keep that off the event loop
                import asyncio  # lazily: see LM._asend

                values, messages, request, lm, ctx = await asyncio.to_thread(self._prepare, inputs)
            response = await lm.acomplete(request, use_cache=ctx.use_cache)
            failures: list[ParseError] = []
            while isinstance(
                step := self._read_or_retry(values, request, response, failures), LMRequest
            ):
                request = step
                response = await lm.acomplete(request, use_cache=ctx.use_cache)
            return self._finish(values, step, messages, response, ctx)

    def stream(self, *args: P.args, **inputs: P.kwargs) -> Iterator[StreamEvent[S]]:
        """Output fields as they arrive (:class:`castlm.Partial`), then the validated result
        (:class:`castlm.Done`). Bad inputs raise here, before iteration starts."""
        from . import _stream

        _keywords_only(self, args)

        # Guards are fixed now: the stream may be consumed after the module that called
        # this predictor has returned it, and its output guards must still apply.
        guards = _instrument.active_guards(self._castlm_guards)
        return _stream.run(self, self._prepare(inputs), guards)

    def astream(self, *args: P.args, **inputs: P.kwargs) -> AsyncIterator[StreamEvent[S]]:
        """The asynchronous :meth:`stream`."""
        from . import _stream

        _keywords_only(self, args)

        guards = _instrument.active_guards(self._castlm_guards)
        return _stream.arun(self, self._prepare(inputs), guards)

    def batch(
        self, inputs: Sequence[Mapping[str, Any]], *, concurrency: int = BATCH_CONCURRENCY
    ) -> BatchResult[S]:
        """Call once per input on ``concurrency`` threads (see :func:`castlm.batch`)."""
        from ._batch import batch

        return batch(self, inputs, concurrency=concurrency)

    async def abatch(
        self, inputs: Sequence[Mapping[str, Any]], *, concurrency: int = BATCH_CONCURRENCY
    ) -> BatchResult[S]:
        """Call once per input, ``concurrency`` at a time (see :func:`castlm.abatch`)."""
        from ._batch import abatch

        return await abatch(self, inputs, concurrency=concurrency)

    def _lm_for(self, ctx: CallContext) -> LM | None:
        override = ctx.override_lm
        if override is not None:
            # An LM of another castlm runtime is not an instance of this one's LM class.
            chosen = override.get(self) if isinstance(override, Mapping) else override
            if chosen is not None:
                return chosen
        return self.lm or ctx.lm

    def _checked_inputs(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        values = self._validate_inputs(inputs)
        guards = _instrument.active_guards(self._castlm_guards)
        return _check_inputs(guards, self, values) if guards else values

    def _prepare(
        self, inputs: dict[str, Any]
    ) -> tuple[dict[str, Any], tuple[Message, ...], LMRequest, LM, CallContext]:
        ctx = current()
        lm = self._lm_for(ctx)
        if lm is None:
            raise ConfigurationError(
                f"predictor for {self.spec.name} has no LM: pass lm= to load() or to the "
                f"predictor, call module.set_lm(lm), or wrap the call in castlm.context(lm=...)"
            )
        self._follow(lm)
        values = self._checked_inputs(inputs)
        messages = self._render(values)
        request = lm.request(
            messages,
            temperature=ctx.temperature if ctx.temperature is not None else self.temperature,
            max_tokens=self.max_tokens,
            response_format=self.response_format(),
            rollout=ctx.rollout,
            default_max_tokens=self.spec.output_token_cap,
        )
        if self.model:
            request = replace(request, model=self.model)
        return values, messages, request, lm, ctx

    def _follow(self, lm: LM) -> None:
        """With ``adapter="auto"``, use JSON whenever the LM constrains its output to the
        schema (a grammar makes a choice, a flag or a number impossible to garble)."""
        if self._adapter_mode != "auto":
            return
        wanted = _adapter.JSON if lm.constrains_output else _adapter.choose(self.spec, "auto")
        if wanted is not self.adapter:
            self.adapter = wanted
            self._prefix = None
            self._suffix = wanted.suffix(self.spec)

    def _validate_inputs(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        fields = self.spec.fields
        for name in inputs:
            if name not in fields or fields[name].role != "input":
                raise InputError(self._unknown_input(name))
        try:
            model = self.spec.input_model.model_validate(inputs)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5]
            )
            raise InputError(f"{self.spec.name}: invalid inputs ({problems})") from exc
        values = {f.name: getattr(model, f.name) for f in self.spec.inputs}
        for name, value in values.items():
            if found := surrogate_in(value):
                raise InputError(
                    f"{self.spec.name}: input {name!r} holds {found}, which is not valid "
                    f"Unicode text and cannot be sent to an LM"
                )
        return values

    def _unknown_input(self, name: str) -> str:
        import difflib  # only on this error path: keeps `import castlm` lean

        names = [f.name for f in self.spec.inputs]
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"{self.spec.name} has no input field {name!r}; {hint}its inputs are {names}"

    def _retry_request(
        self, request: LMRequest, response: LMResponse, error: ParseError
    ) -> LMRequest:
        messages = (
            *request.messages,
            {"role": "assistant", "content": response.text},
            self.adapter.retry_message(self.spec, error),
        )
        return replace(request, messages=messages)

    def read(self, values: Mapping[str, Any], text: str) -> dict[str, Any]:
        """The outputs of one reply: parsed and type-checked by the adapter, then run through
        the signature's own validators. Raises ParseError."""
        return run_validators(self.signature, values, self.adapter.parse(self.spec, text), text)

    def _read_or_retry(
        self,
        values: Mapping[str, Any],
        request: LMRequest,
        response: LMResponse,
        failures: list[ParseError],
    ) -> dict[str, Any] | LMRequest:
        """The outputs of ``response`` or, when it is rejected and retries are left, the
        request to send next (it shows the LM its reply and the error). ``failures``
        collects the rejections of this call."""
        try:
            return self.read(values, response.text)
        except ParseError as error:
            failures.append(error)
            if len(failures) > self.parse_retries:
                raise self._gave_up(response, failures) from error
            if response.finish_reason == "length":  # more of the same would be cut again
                return shorter_request(request, len(failures))
            return self._retry_request(request, response, error)

    def _gave_up(self, response: LMResponse, failures: list[ParseError]) -> ParseError:
        last, first = failures[-1], failures[0]
        retries = len(failures) - 1
        if retries == 0:
            message = f"{self.spec.name}: the LM's reply could not be parsed: {last}"
        else:
            times = "one retry" if retries == 1 else f"{retries} retries"
            message = (
                f"{self.spec.name}: the LM's reply could not be parsed, even after {times} "
                f"that showed it the error: {last} (first attempt: {first})"
            )
        if response.finish_reason == "length":
            message += ". The reply stopped at its token limit: raise max_tokens."
        return ParseError(message, raw=response.text, signature=self.spec.name)

    def _finish(
        self,
        values: dict[str, Any],
        outputs: dict[str, Any],
        messages: tuple[Message, ...],
        response: LMResponse,
        ctx: CallContext,
        guards: tuple[_guards.Guard, ...] | None = None,
    ) -> S:
        if guards is None:
            guards = _instrument.active_guards(self._castlm_guards)
        if guards:
            outputs = _check_outputs(guards, self, outputs)
        result = self.signature.model_construct(**values, **outputs)
        if ctx.trace is not None:
            ctx.trace.append(TraceStep(self, self.spec.name, values, outputs, messages, response))
        return result

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        # Signatures, adapters and LMs are shared: only the learnable parameters are copied.
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        return clone

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec.name}, demos={len(self._demos)})"


def _is_history(annotation: Any) -> bool:
    """``castlm.History`` (or a subclass), possibly optional; recognised by its marker so
    that signatures without one never load the History module."""
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_is_history(a) for a in get_args(annotation))
    return bool(getattr(annotation, "__castlm_history__", False))


def _checked_retries(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"parse_retries must be an int >= 0, got {value!r}")
    return value


def _keywords_only(predictor: Predict[Any], args: tuple[object, ...]) -> None:
    # The ParamSpec needs *args in the signature; inputs are keywords at runtime too.
    if args:
        raise InputError(
            f"{predictor.spec.name}: pass inputs as keywords, e.g. "
            f"{predictor.spec.inputs[0].name}=...; got {len(args)} positional argument(s)"
        )


class ChainOfThought(Predict[S, P]):
    """A Predict whose signature gains a leading ``reasoning`` output, unless it has one."""

    def _effective_signature(self, signature: type[S]) -> type[S]:
        derived: type[S] = with_reasoning(signature, REASONING_DESC)  # type: ignore[assignment]
        return derived


def _check_inputs(
    guards: tuple[_guards.Guard, ...], predictor: Any, values: dict[str, Any]
) -> dict[str, Any]:
    from ..observe._guards import check_inputs  # loaded: there are guards

    return check_inputs(guards, predictor, values)


def _check_outputs(
    guards: tuple[_guards.Guard, ...], predictor: Any, outputs: dict[str, Any]
) -> dict[str, Any]:
    from ..observe._guards import check_outputs

    return check_outputs(guards, predictor, outputs)
