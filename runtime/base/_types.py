"""Which field types a signature may use, and how each is described to a model.

The checks run once, when a Signature class is created, so a bad declaration fails at import
time with the class and field named, never in the middle of a request.
"""

from __future__ import annotations

import datetime
import enum
import json
import types
import typing
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

if TYPE_CHECKING:
    from typing_extensions import TypeIs

_SCALARS: tuple[type, ...] = (str, int, float, bool, datetime.date, datetime.datetime)
_CONTAINERS: tuple[Any, ...] = (list, dict, tuple, set, frozenset)
_NESTED_IMAGE = (
    "an Image can only be a whole field (Image, Image | None or list[Image]): it is sent as "
    "an image part, not inside JSON"
)


def is_image_class(annotation: Any) -> bool:
    """``castlm.Image`` (base/_image.py), told by its marker: a package whose program has no
    image fields is compiled without that module (base/_features.py)."""
    return isinstance(annotation, type) and bool(getattr(annotation, "__castlm_image__", False))


def image_field(annotation: Any) -> bool:
    """True for the image field types: ``Image``, ``Image | None`` and ``list[Image]``."""
    if is_image_class(annotation):
        return True
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        return len(rest) == 1 and len(args) == 2 and is_image_class(rest[0])
    return origin is list and len(args) == 1 and is_image_class(args[0])


def unsupported_reason(annotation: Any) -> str | None:
    """Why ``annotation`` cannot be a signature field type, or None when it can."""
    if isinstance(annotation, typing.ForwardRef | str):
        name = (
            annotation.__forward_arg__ if isinstance(annotation, typing.ForwardRef) else annotation
        )
        return (
            f"type {name!r} could not be resolved; define or import it before the signature "
            f"at module level"
        )
    if annotation is Any or annotation is object:
        return "Any/object gives the model no type to follow; name a concrete type"
    if image_field(annotation):
        return None
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return unsupported_reason(get_args(annotation)[0])
    if origin is Literal:
        bad = [a for a in get_args(annotation) if not isinstance(a, str | int | bool)]
        return f"Literal values must be str, int or bool, not {bad[0]!r}" if bad else None
    if origin in (Union, types.UnionType):
        for arg in get_args(annotation):
            if arg is not type(None) and (why := unsupported_reason(arg)):
                return why
        return None
    if origin in _CONTAINERS:
        return _container_reason(origin, get_args(annotation))
    if is_image_class(annotation):
        return _NESTED_IMAGE
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return _model_reason(annotation, set())
        if issubclass(annotation, (*_SCALARS, enum.Enum)):
            return None
        return f"{annotation.__name__} is not a supported field type"
    return f"{annotation!r} is not a supported field type"


def _model_reason(model: type[BaseModel], seen: set[type]) -> str | None:
    """An Image somewhere inside a model's fields would be written into JSON as base64."""
    seen.add(model)
    for annotation in _leaf_types(tuple(f.annotation for f in model.model_fields.values())):
        if is_image_class(annotation):
            return _NESTED_IMAGE
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            continue
        nested: type[BaseModel] = annotation
        if nested not in seen and (why := _model_reason(nested, seen)):
            return why
    return None


def _leaf_types(annotations: tuple[Any, ...]) -> list[Any]:
    found: list[Any] = []
    for annotation in annotations:
        args = get_args(annotation)
        found.extend(_leaf_types(args) if args else [annotation])
    return found


def _container_reason(origin: Any, args: tuple[Any, ...]) -> str | None:
    if origin is dict and args and args[0] is not str:
        return "dict keys must be str (they travel as JSON object keys)"
    for arg in args:
        if arg is Ellipsis:
            continue
        if why := unsupported_reason(arg):
            return why
    return None


def choices(annotation: Any) -> tuple[Any, ...] | None:
    """The values a Literal or Enum annotation allows (an enum's member values), else None."""
    if get_origin(annotation) is Literal:
        return get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return tuple(m.value for m in annotation)
    return None


def is_text(annotation: Any) -> bool:
    """True for fields whose value is sent and parsed as plain text, not JSON."""
    return annotation is str


def is_structured(annotation: Any) -> bool:
    """True when the type needs JSON to be written down (models, containers)."""
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return is_structured(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return any(is_structured(a) for a in get_args(annotation) if a is not type(None))
    if origin in _CONTAINERS:
        return True
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def describe(annotation: Any) -> str:
    """A short, model-readable description of a type, e.g. ``one of: "a", "b"``."""
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is typing.Annotated:
        return describe(args[0])
    if image_field(annotation):
        return "images, attached" if origin is list else "image, attached"
    if origin is Literal:
        return "one of: " + ", ".join(json.dumps(a) for a in args)
    if origin in (Union, types.UnionType):
        options = [describe(a) for a in args if a is not type(None)]
        text = " or ".join(options)
        return f"{text}, or null" if type(None) in args else text
    if origin in (list, set, frozenset):
        return f"JSON array of {describe(args[0]) if args else 'values'}"
    if origin is tuple:
        return "JSON array [" + ", ".join(describe(a) for a in args if a is not Ellipsis) + "]"
    if origin is dict:
        value = describe(args[1]) if len(args) == 2 else "values"
        return f"JSON object of string keys to {value}"
    return _describe_class(annotation)


def _describe_class(annotation: object) -> str:
    if annotation is bool:
        return "boolean: true or false"
    if annotation is str:
        return "string"
    if annotation is int:
        return "integer"
    if annotation is float:
        return "number"
    if _is_enum_class(annotation):
        return "one of: " + ", ".join(json.dumps(m.value) for m in annotation)
    if _is_model_class(annotation):
        schema = json.dumps(annotation.model_json_schema(), ensure_ascii=False)
        return f"JSON object matching the schema {schema}"
    if annotation is datetime.date:
        return "date (YYYY-MM-DD)"
    if annotation is datetime.datetime:
        return "date-time (ISO 8601)"
    return str(getattr(annotation, "__name__", repr(annotation)))


def _is_enum_class(annotation: object) -> TypeIs[type[enum.Enum]]:
    return isinstance(annotation, type) and issubclass(annotation, enum.Enum)


def _is_model_class(annotation: object) -> TypeIs[type[BaseModel]]:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)
