"""InputField()/OutputField() calls: recognizing them and checking their arguments (CL109).

The accepted arguments mirror the runtime's (``castlm.core._signature``): both markers
take ``desc=`` and the pydantic constraints listed below, only InputField takes
``default=``, and all arguments are keyword-only. The runtime raises at import
time for anything else; reporting it here makes ``castlm check`` say so first.
"""

from __future__ import annotations

import libcst as cst
from castlm.compiler.analyze.context import Reporter
from castlm.compiler.analyze.imports import Aliases
from castlm.compiler.diagnostics import did_you_mean
from castlm.compiler.ir import FieldRole

MARKERS: dict[str, FieldRole] = {"InputField": "input", "OutputField": "output"}
CONSTRAINTS = frozenset(
    {
        "gt",
        "ge",
        "lt",
        "le",
        "multiple_of",
        "min_length",
        "max_length",
        "pattern",
        "strict",
        "allow_inf_nan",
        "max_digits",
        "decimal_places",
        "examples",
        "title",
    }
)


def marker_role(node: cst.BaseExpression | None, aliases: Aliases) -> FieldRole | None:
    """The role of an ``InputField(...)``/``OutputField(...)`` call; None for anything else."""
    if not isinstance(node, cst.Call):
        return None
    name = aliases.castlm_name(node.func)
    return None if name is None else MARKERS.get(name)


def accepted_keywords(role: FieldRole) -> frozenset[str]:
    return CONSTRAINTS | ({"desc", "default"} if role == "input" else {"desc"})


def check_marker_arguments(call: cst.Call, role: FieldRole, reporter: Reporter) -> None:
    """Report positional, ``*``-expanded and unknown arguments (CL109)."""
    marker = "InputField" if role == "input" else "OutputField"
    accepted = accepted_keywords(role)
    for arg in call.args:
        if arg.keyword is None:
            reporter.report(
                arg,
                "CL109",
                f"{marker}() takes keyword arguments only",
                "describe the field with desc=...",
            )
        elif arg.keyword.value not in accepted:
            name = arg.keyword.value
            reporter.report(
                arg.keyword,
                "CL109",
                f"{marker}() got an unknown argument '{name}'",
                did_you_mean(name, accepted) or _accepted_hint(role, name),
            )


def _accepted_hint(role: FieldRole, name: str) -> str:
    if role == "output" and name == "default":
        return "output fields are produced by the LM and cannot have a default"
    return f"accepted: {', '.join(sorted(accepted_keywords(role)))}"
