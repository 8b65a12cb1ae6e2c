"""Tools: typed Python functions that agents (ReAct, CodeAct) can call.

``Tool(fn)`` reads everything a model needs from the function itself: the name, the description
(the docstring's text before its ``Args:`` section), and a JSON schema of the arguments built by
pydantic from the type hints, with each argument's description taken from the docstring's
``Args:`` section. Arguments the model writes are validated against that schema before the
function runs, and :meth:`Tool.run` never raises: a bad argument or an exception inside the tool
becomes an error :class:`Observation` that the agent shows the model, so it can correct itself.
Sync and async functions are both supported, from sync and async callers.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic_core import PydanticUndefined, to_jsonable_python

from ..base._errors import ConfigurationError, ToolError
from ..base._narrow import is_mapping, is_object

#: Names a model can call: what OpenAI's function calling accepts.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SECTION = re.compile(
    r"^(Args|Arguments|Parameters|Params|Returns|Return|Raises|Yields|Examples?)\s*:\s*$"
)
_ARG_LINE = re.compile(r"^(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")

#: Default cap on an observation's length, in characters (a tool may return a whole page).
MAX_OBSERVATION_CHARS = 4000


@dataclass(frozen=True, slots=True)
class Observation:
    """What one tool call gave back: ``text`` is what the model sees.

    ``ok`` is False when the arguments were invalid or the tool raised; ``value`` is the tool's
    return value (None on error).
    """

    text: str
    ok: bool = True
    value: Any = None


class Tool:
    """A function an agent can call, with its name, description and argument schema.

    ``name`` defaults to the function's ``__name__`` and ``description`` to its docstring.
    Parameters must be named (no ``*args``/``**kwargs``); unannotated ones accept any JSON
    value. Calling the tool (``tool(x=1)``) validates the arguments and raises
    :class:`castlm.ToolError` on bad ones; :meth:`run` returns an :class:`Observation` instead.
    """

    name: str
    description: str
    #: JSON schema of the arguments object (``{"type": "object", "properties": ...}``).
    parameters: dict[str, Any]

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
    ) -> None:
        if isinstance(func, Tool):
            raise ConfigurationError("Tool() got a Tool; pass the function, or use the Tool")
        if not callable(func):
            raise ConfigurationError(f"Tool() needs a function, not {type(func).__name__}")
        self.func = func
        self.name = _checked_name(name or str(getattr(func, "__name__", type(func).__name__)))
        summary, arg_docs = _parse_docstring(inspect.getdoc(func) or "")
        self.description = description if description is not None else summary
        self._model, self._positional = _arguments_model(func, self.name, arg_docs)
        self.parameters = _schema(self._model)
        self.is_async = _is_async(func)

    # -- describing ----------------------------------------------------------------------
    @property
    def arg_names(self) -> tuple[str, ...]:
        return tuple(self.parameters.get("properties", {}))

    def spec(self) -> dict[str, Any]:
        """The tool in OpenAI's ``tools`` format, for native function calling."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    def describe(self) -> str:
        """One line for a text prompt: name, description and argument schema."""
        properties = self.parameters.get("properties", {})
        args = json.dumps(properties, ensure_ascii=False)
        about = f" {self.description}" if self.description else ""
        return f"{self.name}:{about} Arguments: {args}"

    def __repr__(self) -> str:
        return f"Tool({self.name!r})"

    # Tools are shared, never copied: copying a program (Module.deepcopy) must not copy a
    # connection to an MCP server or whatever state a tool's function holds.
    def __copy__(self) -> Tool:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Tool:
        return self

    # -- calling -------------------------------------------------------------------------
    def validate(self, args: Mapping[str, Any]) -> dict[str, Any]:
        """``args`` checked and converted to the declared types; raises ToolError."""
        if not is_mapping(args):  # the model's JSON, whatever the annotation says
            raise ToolError(f"{self.name}: arguments must be a JSON object, not {args!r}")
        try:
            model = self._model.model_validate(dict(args))
        except ValidationError as exc:
            raise ToolError(f"invalid arguments for {self.name}: {_problems(exc)}") from None
        return {key: getattr(model, key) for key in type(model).model_fields}

    def __call__(self, **kwargs: Any) -> Any:
        return self._call(self.validate(kwargs))

    async def acall(self, **kwargs: Any) -> Any:
        return await self._acall(self.validate(kwargs))

    def run(
        self, args: Mapping[str, Any] | str, *, max_chars: int = MAX_OBSERVATION_CHARS
    ) -> Observation:
        """Validate and call; any failure becomes an error observation (never raised)."""
        try:
            value = self._call(self.validate(self.parse_args(args)))
        except Exception as exc:
            return failure(exc, self.name)
        return Observation(render(value, max_chars), True, value)

    async def arun(
        self, args: Mapping[str, Any] | str, *, max_chars: int = MAX_OBSERVATION_CHARS
    ) -> Observation:
        try:
            value = await self._acall(self.validate(self.parse_args(args)))
        except Exception as exc:
            return failure(exc, self.name)
        return Observation(render(value, max_chars), True, value)

    def parse_args(self, args: Mapping[str, Any] | str) -> Mapping[str, Any]:
        """Arguments as a mapping. Text is read as a JSON object; text that is not one is
        taken as the value of the only parameter, when the tool has exactly one."""
        if not isinstance(args, str):
            return args
        text = args.strip()
        try:
            value: Any = json.loads(text) if text else {}
        except (ValueError, RecursionError):
            value = None
        if is_object(value):
            return value
        names = self.arg_names
        if len(names) == 1:
            return {names[0]: value if value is not None else text}
        raise ToolError(f"{self.name}: the arguments must be a JSON object, got {text[:200]!r}")

    # -- what subclasses (MCP tools) replace ---------------------------------------------
    def _call(self, values: dict[str, Any]) -> Any:
        args, kwargs = self._split(values)
        result = self.func(*args, **kwargs)
        if inspect.isawaitable(result):
            return run_coroutine(_awaited(result))
        return result

    async def _acall(self, values: dict[str, Any]) -> Any:
        args, kwargs = self._split(values)
        if self.is_async:
            return await self.func(*args, **kwargs)
        result = await asyncio.to_thread(self.func, *args, **kwargs)
        return await result if inspect.isawaitable(result) else result

    def _split(self, values: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        positional = [values.pop(name) for name in self._positional if name in values]
        return positional, values


def as_tool(value: Tool | Callable[..., Any]) -> Tool:
    """``value`` itself when it is a Tool, else ``Tool(value)``."""
    return value if isinstance(value, Tool) else Tool(value)


def failure(exc: BaseException, name: str) -> Observation:
    """An exception as the observation the model sees."""
    if isinstance(exc, ToolError):
        return Observation(f"Error: {exc}", False)
    return Observation(f"Error: {name} raised {type(exc).__name__}: {exc}", False)


def render(value: Any, max_chars: int = MAX_OBSERVATION_CHARS) -> str:
    """A tool's return value as observation text: strings verbatim, everything else as JSON."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, BaseModel):
        text = value.model_dump_json()
    else:
        try:
            text = json.dumps(to_jsonable_python(value), ensure_ascii=False)
        except Exception:  # an object pydantic cannot serialize: its repr is the best we have
            text = repr(value)
    return truncate(text, max_chars)


def truncate(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}... [truncated {len(text) - max_chars} characters]"


def run_coroutine(awaitable: Awaitable[Any]) -> Any:
    """Run ``awaitable`` to completion from sync code, even when an event loop is running
    in this thread (then it runs on a loop of its own in a helper thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_awaited(awaitable))
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _awaited(awaitable)).result()


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


# -- building the schema -------------------------------------------------------------------
def _checked_name(name: str) -> str:
    if not _NAME.match(name):
        raise ConfigurationError(
            f"tool name {name!r} is not usable: a model can call names of 1-64 letters, digits, "
            f"'_' or '-'; pass name=... to Tool()"
        )
    return name


def _is_async(func: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(func):
        return True
    inner = getattr(func, "func", None)  # functools.partial
    call = getattr(func, "__call__", None)  # noqa: B004 (objects with an async __call__)
    return inspect.iscoroutinefunction(inner) or inspect.iscoroutinefunction(call)


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The text before the first section, and the descriptions in an ``Args:`` section."""
    summary: list[str] = []
    args: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    for raw in doc.splitlines():
        line = raw.strip()
        header = _SECTION.match(line)
        if header:
            section, current = header.group(1).lower(), None
        elif section is None:
            summary.append(line)
        elif section in ("args", "arguments", "parameters", "params") and line:
            match = _ARG_LINE.match(line) if not raw.startswith((" " * 8, "\t\t")) else None
            if match:
                name = match.group(1).lstrip("*")
                args[name], current = match.group(2).strip(), name
            elif current is not None:
                args[current] = f"{args[current]} {line}".strip()
    return " ".join(" ".join(summary).split()), args


def _hints(func: Callable[..., Any]) -> dict[str, Any]:
    plain = inspect.isfunction(func) or inspect.ismethod(func)
    target: Any = func if plain else getattr(func, "__call__", func)  # noqa: B004
    try:
        return get_type_hints(target, include_extras=True)
    except Exception:  # an unresolvable forward reference: fall back to what is written
        return dict(getattr(target, "__annotations__", {}))


def _arguments_model(
    func: Callable[..., Any], name: str, docs: Mapping[str, str]
) -> tuple[type[BaseModel], tuple[str, ...]]:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"tool {name!r}: cannot read its signature ({exc})") from exc
    hints = _hints(func)
    fields: dict[str, Any] = {}
    positional: list[str] = []
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ConfigurationError(
                f"tool {name!r}: *{param.name} / **{param.name} cannot be described to a model; "
                f"declare each argument by name"
            )
        if param.kind is param.POSITIONAL_ONLY:
            positional.append(param.name)
        annotation = hints.get(param.name, Any)
        default = PydanticUndefined if param.default is param.empty else param.default
        fields[param.name] = (annotation, _field(default, docs.get(param.name)))
    config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, protected_namespaces=())
    try:
        model: type[BaseModel] = create_model(f"{name}_arguments", __config__=config, **fields)
        model.model_json_schema()
    except Exception as exc:
        raise ConfigurationError(
            f"tool {name!r}: its argument types cannot be described as JSON ({exc})"
        ) from exc
    return model, tuple(positional)


def _field(default: Any, desc: str | None) -> Any:
    return Field(default=default, description=desc or None)


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema.pop("title", None)
    properties: dict[str, Any] = schema.get("properties", {})
    for prop in properties.values():
        if is_object(prop):
            prop.pop("title", None)
    schema.setdefault("properties", {})
    return schema


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors()[:5]
    )
