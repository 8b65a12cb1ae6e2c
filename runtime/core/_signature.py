"""Signatures: typed task declarations whose docstring is the instruction.

A ``Signature`` is a pydantic model whose fields are marked as inputs or outputs. The class is
checked when it is created; a wrong declaration raises :class:`SignatureError` naming the class,
the field and the fix. What later stages need (field order, roles, validators for the inputs
and for the outputs) is computed once and kept on the class as its :class:`SignatureSpec`.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast, dataclass_transform

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic._internal._model_construction import ModelMetaclass
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from ..base import _types
from ..base._errors import ParseError, SignatureError
from ..base._narrow import is_object

Role = Literal["input", "output"]
_ROLE_KEY = "castlm_role"

_CONSTRAINTS = frozenset(
    {
        "gt", "ge", "lt", "le", "multiple_of", "min_length", "max_length", "pattern",
        "strict", "allow_inf_nan", "max_digits", "decimal_places", "examples", "title",
    }
)  # fmt: skip
_RESERVED = frozenset({"instructions", "demos", "signature"}) | frozenset(dir(BaseModel))


def _field(role: Role, desc: str | None, default: Any, constraints: dict[str, Any]) -> Any:
    unknown = sorted(set(constraints) - _CONSTRAINTS)
    if unknown:
        import difflib  # only on this error path: keeps `import castlm` lean

        close = difflib.get_close_matches(unknown[0], _CONSTRAINTS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise SignatureError(
            f"{'InputField' if role == 'input' else 'OutputField'}() got an unknown argument "
            f"{unknown[0]!r}{hint}; accepted: desc, default, {', '.join(sorted(_CONSTRAINTS))}"
        )
    return Field(
        default=default,
        description=desc,
        json_schema_extra={_ROLE_KEY: role},
        **constraints,
    )


def InputField(
    *,
    desc: str | None = None,
    default: Any = PydanticUndefined,
    init: Literal[True] = True,
    **constraints: Any,
) -> Any:
    """Declare an input field. ``default`` makes it optional; constraints are pydantic's.

    ``init`` is for type checkers (see docs/typing.md): inputs are keywords of the
    signature's constructor, and so of every predictor call that runs it.
    """
    return _field("input", desc, default, constraints)


def OutputField(
    *, desc: str | None = None, init: Literal[False] = False, **constraints: Any
) -> Any:
    """Declare an output field; the model's value is validated against its type and constraints.

    ``init`` is for type checkers: outputs are not keywords of the constructor, so a
    predictor call that passes one is a type error.
    """
    return _field("output", desc, PydanticUndefined, constraints)


@dataclass(frozen=True)
class FieldSpec:
    """One field of a signature, as the adapter and the compiler see it."""

    name: str
    role: Role
    annotation: Any
    desc: str | None
    info: FieldInfo

    @property
    def required(self) -> bool:
        return self.info.is_required()

    @cached_property
    def is_text(self) -> bool:
        return _types.is_text(self.annotation)

    @cached_property
    def is_image(self) -> bool:
        """An image input (``Image``, ``Image | None``, ``list[Image]``): sent as image parts."""
        return _types.image_field(self.annotation)

    @cached_property
    def choices(self) -> tuple[Any, ...] | None:
        """The allowed values of a Literal or Enum field (the enum's values), else None."""
        return _types.choices(self.annotation)

    @cached_property
    def type_description(self) -> str:
        return _types.describe(self.annotation)


@dataclass(frozen=True)
class SignatureSpec:
    """Everything castlm derives from a Signature class, computed once per class."""

    name: str
    instructions: str
    inputs: tuple[FieldSpec, ...]
    outputs: tuple[FieldSpec, ...]

    @cached_property
    def fields(self) -> dict[str, FieldSpec]:
        return {f.name: f for f in (*self.inputs, *self.outputs)}

    @cached_property
    def input_model(self) -> type[BaseModel]:
        return _sub_model(f"{self.name}Inputs", self.inputs)

    @cached_property
    def output_model(self) -> type[BaseModel]:
        return _sub_model(f"{self.name}Outputs", self.outputs)

    @cached_property
    def structured(self) -> bool:
        """True when some output needs JSON (models, containers)."""
        return any(_types.is_structured(f.annotation) for f in self.outputs)

    @cached_property
    def response_format(self) -> dict[str, Any]:
        """The structured-output request for the outputs, built once per signature."""
        from ..base._structured import response_format

        return response_format(self.name, self.output_model.model_json_schema())

    @cached_property
    def output_token_cap(self) -> int:
        """A default bound on a reply's tokens: a few for a choice, a number or a flag, more
        for free text, so that a model that rambles costs bounded time."""
        return _REPLY_OVERHEAD + sum(_field_cap(f) for f in self.outputs)


_REPLY_OVERHEAD = 32


def _field_cap(field: FieldSpec) -> int:
    if field.choices is not None or field.annotation in (bool, int, float):
        return 24
    if field.is_text:
        return 768
    return 512  # containers and nested models


def _sub_model(name: str, fields: tuple[FieldSpec, ...]) -> type[BaseModel]:
    definitions: dict[str, Any] = {f.name: (f.info.annotation, copy.copy(f.info)) for f in fields}
    model: type[BaseModel] = create_model(
        name, __config__=ConfigDict(extra="ignore", protected_namespaces=()), **definitions
    )
    return model


# Type checkers synthesize each signature's constructor from its fields: the inputs, as
# keywords (outputs are `init=False`). Predict captures that constructor's parameters, which
# is how mypy and pyright check the keywords and value types of a predictor call.
@dataclass_transform(kw_only_default=True, field_specifiers=(InputField, OutputField))
class _SignatureMeta(ModelMetaclass):
    """Turns pydantic's class-creation errors into SignatureErrors naming the field."""

    def __new__(
        mcs,
        name: str,
        bases: tuple[type[Any], ...],
        namespace: dict[str, Any],
        **kwargs: Any,
    ) -> type:
        _check_namespace(name, namespace)
        try:
            cls = super().__new__(mcs, name, bases, namespace, **kwargs)
        except SignatureError:
            raise
        except Exception as exc:  # pydantic raises several types here; all are declaration bugs
            raise SignatureError(f"signature {name}: {exc}") from exc
        if namespace.get("__module__") == __name__ and name == "Signature":
            return cls
        spec = _build_spec(cast("type[BaseModel]", cls))
        type.__setattr__(cls, "__castlm_spec__", spec)
        try:
            cast("type[BaseModel]", cls).model_rebuild(force=True)
        except Exception as exc:
            raise SignatureError(f"signature {name}: {exc}") from exc
        return cls


def _check_namespace(name: str, namespace: dict[str, Any]) -> None:
    annotations: dict[str, Any] = namespace.get("__annotations__", {})
    for attr, value in namespace.items():
        if _is_marked(value) and attr not in annotations:
            raise SignatureError(
                f"signature {name}: field {attr!r} has no type annotation; "
                f"write `{attr}: str = ...` (or the type it holds)"
            )
    for attr in annotations:
        if attr.startswith("_") and _is_marked(namespace.get(attr)):
            raise SignatureError(
                f"signature {name}: field {attr!r} starts with an underscore, which pydantic "
                f"reserves for private attributes; rename it"
            )
        if attr in _RESERVED and _is_marked(namespace.get(attr)):
            raise SignatureError(
                f"signature {name}: field name {attr!r} is reserved (it is an attribute of "
                f"Signature or pydantic.BaseModel); rename it"
            )


def _is_marked(value: Any) -> bool:
    return isinstance(value, FieldInfo) and _role_of(value) is not None


def _role_of(info: FieldInfo) -> Role | None:
    extra = info.json_schema_extra
    role = extra.get(_ROLE_KEY) if is_object(extra) else None
    return cast("Role | None", role)


def _build_spec(cls: type[BaseModel]) -> SignatureSpec:
    fields: list[FieldSpec] = []
    for fname, info in cls.model_fields.items():
        role = _role_of(info)
        if role is None:
            raise SignatureError(
                f"signature {cls.__name__}: field {fname!r} is neither an input nor an output; "
                f"declare it as `{fname}: ... = InputField()` or `= OutputField()`"
            )
        why = _types.unsupported_reason(info.annotation)
        if why:
            raise SignatureError(f"signature {cls.__name__}: field {fname!r}: {why}")
        if role == "output" and _types.image_field(info.annotation):
            raise SignatureError(
                f"signature {cls.__name__}: field {fname!r}: Image fields are inputs only "
                f"(models reply with text); declare it with InputField()"
            )
        fields.append(FieldSpec(fname, role, info.annotation, info.description, info))
    inputs = tuple(f for f in fields if f.role == "input")
    outputs = _ordered_outputs(cls, [f for f in fields if f.role == "output"])
    if not inputs:
        raise SignatureError(
            f"signature {cls.__name__} has no input field; add one with InputField()"
        )
    if not outputs:
        raise SignatureError(
            f"signature {cls.__name__} has no output field; add one with OutputField()"
        )
    return SignatureSpec(cls.__name__, _instructions_of(cls, inputs, outputs), inputs, outputs)


def _ordered_outputs(cls: type[BaseModel], outputs: list[FieldSpec]) -> tuple[FieldSpec, ...]:
    leading: tuple[str, ...] = getattr(cls, "__castlm_leading_outputs__", ())
    first = [f for f in outputs if f.name in leading]
    return (*first, *(f for f in outputs if f.name not in leading))


def _instructions_of(
    cls: type[BaseModel], inputs: tuple[FieldSpec, ...], outputs: tuple[FieldSpec, ...]
) -> str:
    doc = cls.__dict__.get("__doc__")
    if doc:
        return inspect.cleandoc(doc)
    return f"Given the fields {_names(inputs)}, produce the fields {_names(outputs)}."


def _names(fields: tuple[FieldSpec, ...]) -> str:
    return ", ".join(f"`{f.name}`" for f in fields)


class Signature(BaseModel, metaclass=_SignatureMeta):
    """Base class of task declarations. Subclass it; its docstring is the instruction.

    An instance holds one call's inputs and outputs; predictors return instances of the
    signature they run, so the outputs are typed for mypy.
    """

    model_config: ClassVar[ConfigDict] = ConfigDict(defer_build=True, protected_namespaces=())

    __castlm_spec__: ClassVar[SignatureSpec]

    if TYPE_CHECKING:
        # Each subclass gets a constructor of its inputs (see _SignatureMeta); this one is what
        # a type checker sees for ``type[Signature]`` or a TypeVar bound to it: a predictor of
        # a signature known only at run time takes any keywords.
        def __init__(self, /, **data: Any) -> None: ...


def spec_of(signature: type[Signature]) -> SignatureSpec:
    """The computed :class:`SignatureSpec` of a Signature class."""
    spec = signature.__dict__.get("__castlm_spec__")
    if spec is None:
        raise SignatureError(f"{signature!r} is not a Signature subclass")
    return cast("SignatureSpec", spec)


_with_reasoning: dict[type[Signature], type[Signature]] = {}


def with_reasoning(signature: type[Signature], desc: str) -> type[Signature]:
    """``signature`` with a leading ``reasoning: str`` output (for ChainOfThought).

    The derived class subclasses the original, so its instances are still instances of it;
    it is made once per signature.
    """
    if "reasoning" in spec_of(signature).fields:
        return signature
    derived = _with_reasoning.get(signature)
    if derived is None:
        # Called as a plain callable: pyright reads a call of a dataclass_transform metaclass
        # as constructing one of its classes.
        make = cast("Callable[..., type[Signature]]", _SignatureMeta)
        derived = make(
            signature.__name__,
            (signature,),
            {
                "__module__": signature.__module__,
                "__qualname__": signature.__qualname__,
                "__doc__": signature.__dict__.get("__doc__"),
                "__annotations__": {"reasoning": str},
                "reasoning": OutputField(desc=desc),
                "__castlm_leading_outputs__": ("reasoning",),
            },
        )
        _with_reasoning[signature] = derived
    return derived


def has_validators(signature: type[Signature]) -> bool:
    """True when the class declares pydantic validators (its own or inherited)."""
    found = signature.__pydantic_decorators__
    return bool(
        found.field_validators
        or found.model_validators
        or found.validators
        or found.root_validators
    )


def run_validators(
    signature: type[Signature], values: Mapping[str, Any], outputs: dict[str, Any], text: str
) -> dict[str, Any]:
    """``outputs`` after the signature's own validators (``field_validator``,
    ``model_validator``) have run on the whole call, inputs included.

    The adapter has already checked the outputs' types and constraints, on a model without
    the validators; only a signature that declares some pays for this second pass. A failure
    is a :class:`ParseError` carrying the validator's message, which the parse retry shows
    the LM.
    """
    if not has_validators(signature):
        return outputs
    try:
        model = signature.model_validate({**values, **outputs})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(whole reply)'}: {e['msg']}"
            for e in exc.errors()[:5]
        )
        raise ParseError(
            f"invalid output values ({problems})", raw=text, signature=signature.__name__
        ) from exc
    return {name: getattr(model, name) for name in outputs}
