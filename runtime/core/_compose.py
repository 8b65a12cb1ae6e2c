"""Signatures that compound modules (ReAct, ProgramOfThought, ...) derive from the user's.

Two shapes are needed:

* :func:`with_inputs`: the user's signature plus extra input fields (``trajectory``,
  ``attempts``, ...). It subclasses the user's signature, so the final result of a compound
  module is still an instance of it, typed as such for mypy, with the extra fields readable.
* :func:`derived`: a new signature with the user's inputs and other outputs (the next tool
  call, the code to run), for the intermediate steps.

Each is built once per (signature, shape) and reused, like ``ChainOfThought``'s.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from ..base._errors import ConfigurationError
from ._signature import InputField, OutputField, Signature, spec_of

S = TypeVar("S", bound=Signature)

_Meta: Any = type(Signature)
_built: dict[Hashable, type[Signature]] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class NewField:
    """A field a compound module adds: its name, type and description."""

    name: str
    annotation: Any
    desc: str


def with_inputs(
    signature: type[S], fields: Sequence[NewField], *, suffix: str, owner: str
) -> type[S]:
    """``signature`` with ``fields`` appended to its inputs (a subclass of it)."""
    key = ("inputs", signature, suffix, tuple(fields))
    with _lock:
        if key not in _built:
            _check_free(signature, fields, owner)
            namespace = _namespace(signature, suffix, signature.__dict__.get("__doc__"))
            for f in fields:
                namespace["__annotations__"][f.name] = f.annotation
                namespace[f.name] = InputField(desc=f.desc)
            _built[key] = cast(
                "type[Signature]", _Meta(_name(signature, suffix), (signature,), namespace)
            )
        return cast("type[S]", _built[key])


def derived(
    signature: type[Signature],
    *,
    suffix: str,
    instructions: str,
    inputs: Sequence[NewField],
    outputs: Sequence[NewField],
    owner: str,
    key: Hashable = (),
) -> type[Signature]:
    """A new signature: the inputs of ``signature``, then ``inputs``, then ``outputs``."""
    cache_key = ("derived", signature, suffix, instructions, tuple(inputs), tuple(outputs), key)
    with _lock:
        if cache_key not in _built:
            _check_free(signature, [*inputs, *outputs], owner)
            namespace = _namespace(signature, suffix, instructions)
            for own in spec_of(signature).inputs:
                namespace["__annotations__"][own.name] = own.info.annotation
                namespace[own.name] = copy.copy(own.info)
            for f in inputs:
                namespace["__annotations__"][f.name] = f.annotation
                namespace[f.name] = InputField(desc=f.desc)
            for f in outputs:
                namespace["__annotations__"][f.name] = f.annotation
                namespace[f.name] = OutputField(desc=f.desc)
            _built[cache_key] = cast(
                "type[Signature]", _Meta(_name(signature, suffix), (Signature,), namespace)
            )
        return _built[cache_key]


def _namespace(signature: type[Signature], suffix: str, doc: str | None) -> dict[str, Any]:
    return {
        "__module__": signature.__module__,
        "__qualname__": _name(signature, suffix),
        "__doc__": doc,
        "__annotations__": {},
    }


def _name(signature: type[Signature], suffix: str) -> str:
    return f"{signature.__name__}{suffix}"


def _check_free(signature: type[Signature], fields: Sequence[NewField], owner: str) -> None:
    taken = spec_of(signature).fields
    for f in fields:
        if f.name in taken:
            raise ConfigurationError(
                f"{owner} adds a field {f.name!r} to {signature.__name__}, which already has "
                f"one; rename {signature.__name__}.{f.name}"
            )
