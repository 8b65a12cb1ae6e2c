"""Import blocks for generated modules, merged and ordered the way ruff's isort rules want.

Sections: standard library, third party, then relative imports, separated by blank lines.
Within a section, ``import x`` lines come before ``from x import y`` lines, each sorted by
module; names in a ``from`` import are ordered constants, classes, then the rest.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from castlm.compiler.emit.layout import import_from


def merge_imports(statements: Iterable[str]) -> list[str]:
    """Duplicates dropped and ``from m import a`` / ``from m import b`` joined, in order.

    Aliased imports (``from m import a as b``) stay on lines of their own, as ruff's isort
    keeps them by default.
    """
    merged: dict[str, list[str]] = {}
    for statement in statements:
        head, separator, names = statement.partition(" import ")
        if not statement.startswith("from ") or not separator or names == "*" or " as " in names:
            merged.setdefault(statement, [])
            continue
        bound = merged.setdefault(head, [])
        for name in names.split(", "):
            if name not in bound:
                bound.append(name)
    return [f"{key} import {', '.join(names)}" if names else key for key, names in merged.items()]


def import_block(statements: Iterable[str]) -> str:
    """The statements as sorted sections, with ``from`` imports laid out to fit."""
    sections: dict[int, list[str]] = {0: [], 1: [], 2: []}
    for statement in merge_imports(statements):
        sections[_section(statement)].append(statement)
    blocks = [
        "\n".join(_layout(s) for s in sorted(found, key=_order))
        for found in sections.values()
        if found
    ]
    return "\n\n".join(blocks)


def name_order(name: str) -> tuple[int, str]:
    """isort's order by type: CONSTANTS, then Classes, then the rest (ignoring ``as``)."""
    bare = name.split(" as ")[0]
    rank = 0 if bare.isupper() and len(bare) > 1 else 1 if bare[:1].isupper() else 2
    return rank, bare.lower()


def _section(statement: str) -> int:
    module = _module(statement)
    if module.startswith("."):
        return 2
    return 0 if module.split(".")[0] in sys.stdlib_module_names else 1


def _module(statement: str) -> str:
    words = statement.split()
    return words[1]


def _order(statement: str) -> tuple[int, str, bool]:
    straight = 0 if statement.startswith("import ") else 1
    return straight, _module(statement).lstrip(".").lower(), " as " in statement


def _layout(statement: str) -> str:
    if not statement.startswith("from ") or statement.endswith(" *"):
        return statement
    head, _, names = statement.partition(" import ")
    ordered = sorted(names.split(", "), key=name_order)
    return import_from(head.removeprefix("from "), ordered)
