"""Checks calls of the program's own sub-modules in ``forward`` (CL209).

``self.bot(...)``, ``self.bot.forward(...)`` and ``await self.bot.acall(...)`` take the
keywords of the sub-module's ``forward`` (its ``aforward`` when it has no ``forward``). Only
sub-modules whose class is defined in the same file are known; a ``forward`` that takes
``**kwargs`` accepts any keyword.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import libcst as cst
from castlm.compiler.analyze.context import Reporter
from castlm.compiler.analyze.references import member_pattern
from castlm.compiler.diagnostics import did_you_mean
from castlm.compiler.ir import ParamIR

# Module methods that take forward's parameters (Module.__call__ is the bare attribute).
_CALL_METHODS = frozenset({"forward", "aforward", "acall"})


@dataclass(frozen=True)
class ModuleTarget:
    """A sub-module as a call target: its class and the parameters its calls take."""

    class_name: str
    params: tuple[ParamIR, ...]


def called_module(
    func: cst.BaseExpression, self_param: str, targets: Mapping[str, ModuleTarget]
) -> ModuleTarget | None:
    """The sub-module ``func`` calls (``self.bot``, ``self.bot.forward``, ...), if any."""
    pattern = member_pattern(func, self_param)
    if not pattern:
        return None
    path = ".".join(pattern)
    if path in targets:
        return targets[path]
    owner, _, method = path.rpartition(".")
    return targets.get(owner) if method in _CALL_METHODS else None


def check_module_call(
    call: cst.Call, callee: str, target: ModuleTarget, reporter: Reporter
) -> None:
    if any(p.star == "**" for p in target.params):
        return
    names = [p.name for p in target.params if not p.star]
    for arg in call.args:
        if arg.keyword is None or arg.keyword.value in names:
            continue
        keyword = arg.keyword.value
        reporter.report(
            arg.keyword,
            "CL209",
            f"unknown keyword '{keyword}' in call to module '{callee}' ({target.class_name})",
            did_you_mean(keyword, names) or f"parameters are: {', '.join(names) or 'none'}",
        )
