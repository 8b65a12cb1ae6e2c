"""The jinja2 environment that renders the package's files from ``templates/*.j2``.

Templates lay out structure; values reach them only through the filters defined here. To make
"never raw into code" a property rather than a habit, every ``{{ ... }}`` must produce an
:class:`Escaped` value (what the filters return, and what the emitter builds for code it
generated itself); anything else stops the render with an error.
"""

from __future__ import annotations

import ast
import keyword
import math
from collections.abc import Callable
from importlib import resources
from typing import Any

import jinja2
from castlm.compiler.emit import literals
from castlm.compiler.emit.errors import EmitError

TEMPLATE_PACKAGE = "castlm.compiler.templates"


class Escaped(str):
    """Text made safe for the file being rendered (a literal, an identifier, generated code)."""

    __slots__ = ()


def code(text: str) -> Escaped:
    """Source the emitter generated itself (whole files are parsed once rendered)."""
    return Escaped(text)


def check_python(path: str, text: str) -> None:
    """Fail the emit, not the user's import, when a generated Python file does not parse."""
    try:
        ast.parse(text, filename=path)
    except (SyntaxError, ValueError) as exc:
        raise EmitError(f"internal error: the generated {path} does not parse: {exc}") from exc


def _finalize(value: object) -> object:
    if isinstance(value, Escaped):
        return value
    raise EmitError(
        f"internal error: a template wrote {type(value).__name__} {value!r} without an "
        f"escaping filter (pystr, pyvalue, ident, toml, md_fence, md_code, md_text, ...)"
    )


# -- filters -----------------------------------------------------------------------------
def ident(value: str) -> Escaped:
    """A Python identifier, checked (class, parameter and package names)."""
    if not isinstance(value, str) or not value.isidentifier() or keyword.iskeyword(value):
        raise EmitError(f"{value!r} is not a valid Python identifier")
    return Escaped(value)


def pystr(value: str) -> Escaped:
    return Escaped(literals.py_str(_text(value)))


def pystr_block(value: str, indent: int) -> Escaped:
    return Escaped(literals.py_str_block(_text(value), indent))


def pyvalue(value: object, indent: int, where: str = "value") -> Escaped:
    return Escaped(literals.py_value(value, indent, where))


def toml(value: str) -> Escaped:
    return Escaped(literals.toml_str(_text(value)))


def toml_list(values: list[str]) -> Escaped:
    return Escaped("[" + ", ".join(literals.toml_str(_text(v)) for v in values) + "]")


def md_fence(value: str, info: str = "") -> Escaped:
    return Escaped(literals.md_fence(_text(value), info))


def md_code(value: str) -> Escaped:
    return Escaped(literals.md_code(_text(value)))


def md_text(value: str) -> Escaped:
    return Escaped(literals.md_text(_text(value)))


def md_number(value: object) -> Escaped:
    """A score or count for prose: numbers formatted, anything else as code."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return md_code(str(value))
    if isinstance(value, int):
        return Escaped(str(value))
    return Escaped(f"{value:.4g}" if math.isfinite(value) else literals.md_text(str(value)))


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise EmitError(f"internal error: expected text, got {type(value).__name__} {value!r}")
    return value


_FILTERS: dict[str, Callable[..., Escaped]] = {
    "ident": ident,
    "pystr": pystr,
    "pystr_block": pystr_block,
    "pyvalue": pyvalue,
    "toml": toml,
    "toml_list": toml_list,
    "md_fence": md_fence,
    "md_code": md_code,
    "md_text": md_text,
    "md_number": md_number,
}


def _load(name: str) -> str:
    return resources.files(TEMPLATE_PACKAGE).joinpath(name).read_text(encoding="utf-8")


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_load),
        autoescape=False,  # not HTML; escaping is per target language, via the filters
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize,
    )
    env.filters.update(_FILTERS)
    return env


def render(env: jinja2.Environment, template: str, **context: Any) -> str:
    return env.get_template(template).render(**context)
