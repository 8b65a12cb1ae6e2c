"""The public adapter protocol, and how a predictor resolves its ``adapter=`` argument.

An adapter formats a request (the constant messages, then one message per call's inputs) and
parses a reply back into output values. The built-in :class:`castlm.ChatAdapter` and
:class:`castlm.JSONAdapter` implement :class:`AdapterProtocol`; so can any user class, without
subclassing anything. A predictor wraps a user adapter in :class:`UserAdapter`, which caches its
constant messages like the built-ins' and type-checks what its ``parse`` returns, so a custom
format still yields validated outputs and still gets the parse-error retry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from ..base._errors import ConfigurationError, ParseError
from ..base._narrow import is_mapping
from ..lm._lm import Message
from . import _adapter
from ._signature import SignatureSpec

AdapterName = Literal["auto", "chat", "json"]
ADAPTER_NAMES: tuple[str, ...] = ("auto", "chat", "json")


@runtime_checkable
class AdapterProtocol(Protocol):
    """What ``Predict(adapter=...)`` accepts besides a built-in adapter's name.

    ``format_prefix`` returns the messages that do not depend on the inputs (a system
    message, demonstrations); a predictor keeps them until its instructions or demos change.
    ``format_inputs`` returns the message that carries one call's inputs. ``parse`` reads
    the model's reply into ``{output field: value}`` and raises :class:`castlm.ParseError`
    when it cannot (the predictor then shows the model the error and asks again).
    """

    def format_prefix(
        self, spec: SignatureSpec, instructions: str, demos: Sequence[Mapping[str, Any]]
    ) -> Sequence[Message]: ...

    def format_inputs(self, spec: SignatureSpec, inputs: Mapping[str, Any]) -> Message: ...

    def parse(self, spec: SignatureSpec, text: str) -> Mapping[str, Any]: ...


class UserAdapter(_adapter.Adapter):
    """A user's :class:`AdapterProtocol` object behind the interface predictors use."""

    def __init__(self, user: AdapterProtocol) -> None:
        self.user = user
        self.name = class_path(type(user))

    def prefix(
        self, spec: SignatureSpec, instructions: str, demos: Sequence[Mapping[str, Any]]
    ) -> tuple[Message, ...]:
        return tuple(self.user.format_prefix(spec, instructions, demos))

    def user_message(self, spec: SignatureSpec, inputs: Mapping[str, Any], suffix: str) -> Message:
        # The reminder sentence is the built-in formats' own: a user format writes its own.
        return self.user.format_inputs(spec, inputs)

    def retry_message(self, spec: SignatureSpec, error: ParseError) -> Message:
        return {
            "role": "user",
            "content": (
                f"Your reply could not be read: {error}\n\nAnswer again in the format asked for."
            ),
        }

    def format_rules(self, spec: SignatureSpec) -> str:
        return ""

    def reminder(self, spec: SignatureSpec) -> str:
        return ""

    def format_outputs(self, spec: SignatureSpec, values: Mapping[str, Any]) -> str:
        """How a demo's outputs are written back (histories, fine-tuning data): the user's
        ``format_outputs`` when the adapter has one, else one JSON object."""
        own = getattr(self.user, "format_outputs", None)
        if callable(own):
            return str(own(spec, values))
        return _adapter.JSON.format_outputs(spec, values)

    def response_format(self, spec: SignatureSpec) -> dict[str, Any] | None:
        own = getattr(self.user, "response_format", None)
        if not callable(own):
            return None
        found: object = own(spec)
        return dict(found) if is_mapping(found) and found else None

    def parse(self, spec: SignatureSpec, text: str) -> dict[str, Any]:
        raw: object = self.user.parse(spec, text)
        if not is_mapping(raw):
            raise ConfigurationError(
                f"{self.name}.parse returned {type(raw).__name__}; it must return a mapping "
                f"of output field names to values"
            )
        missing = [f.name for f in spec.outputs if f.name not in raw]
        if missing:
            raise ParseError(f"the reply has no value for {missing}", raw=text, signature=spec.name)
        return _adapter.validate_outputs(spec, raw, text)


def resolve(spec: SignatureSpec, adapter: object) -> tuple[str, _adapter.Adapter]:
    """The predictor's adapter mode (a built-in name, or ``"custom"``) and its adapter.

    Unknown names and objects that are not adapters raise here, when the predictor is
    built, instead of silently falling back to the chat format.
    """
    if isinstance(adapter, _adapter.Adapter):
        return "custom", adapter
    if isinstance(adapter, str):
        if adapter not in ADAPTER_NAMES:
            raise ConfigurationError(_unknown_name(adapter))
        return adapter, _adapter.choose(spec, adapter)  # type: ignore[arg-type]
    if isinstance(adapter, AdapterProtocol):
        return "custom", UserAdapter(adapter)
    raise ConfigurationError(
        f"adapter={adapter!r} is not an adapter: pass one of {list(ADAPTER_NAMES)} or an object "
        f"with format_prefix(), format_inputs() and parse() methods (see castlm.AdapterProtocol)"
    )


def _unknown_name(name: str) -> str:
    import difflib  # only on this error path

    close = difflib.get_close_matches(name, ADAPTER_NAMES, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return (
        f"unknown adapter {name!r}; {hint}use one of {list(ADAPTER_NAMES)}, or pass an adapter "
        f"object (see castlm.AdapterProtocol)"
    )


def class_path(cls: type) -> str:
    """``module.QualName`` of a class: how reports and packages name a custom adapter."""
    return f"{cls.__module__}.{cls.__qualname__}"
