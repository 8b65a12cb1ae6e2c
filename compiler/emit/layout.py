"""Line layout for generated code: bracketed lists the way ruff format lays them out.

Generated files should look hand-written and survive ``ruff format`` unchanged, so a list that
does not fit on one line is first moved to an indented line of its own, and only exploded to
one item per line (with a trailing comma) when that does not fit either.
"""

from __future__ import annotations

from collections.abc import Sequence

WIDTH = 100
_INDENT = "    "


def bracketed(head: str, items: Sequence[str], tail: str, indent: int = 0) -> str:
    """``head`` + items + ``tail``, where ``head`` ends with the opening bracket and ``tail``
    starts with the closing one (``"def run("``, ``[...]``, ``") -> int:"``)."""
    pad = _INDENT * indent
    joined = ", ".join(items)
    one_line = f"{pad}{head}{joined}{tail}"
    if _fits(one_line) or not items:
        return one_line
    inner = f"{pad}{_INDENT}{joined}"
    if _fits(inner):
        return f"{pad}{head}\n{inner}\n{pad}{tail}"
    exploded = "".join(f"{pad}{_INDENT}{item},\n" for item in items)
    return f"{pad}{head}\n{exploded}{pad}{tail}"


def import_from(module: str, names: Sequence[str]) -> str:
    """``from module import a, b``, parenthesized when too long."""
    one_line = f"from {module} import {', '.join(names)}"
    if _fits(one_line):
        return one_line
    return bracketed(f"from {module} import (", names, ")")


def _fits(line: str) -> bool:
    return "\n" not in line and len(line) <= WIDTH
