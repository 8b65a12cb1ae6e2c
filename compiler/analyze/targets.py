"""Checks that a class requested for compilation is a Module castlm can compile (CL3xx)."""

from __future__ import annotations

from castlm.compiler.diagnostics import Diagnostic, did_you_mean
from castlm.compiler.ir import ProgramIR


def check_target(program: ProgramIR, class_name: str) -> list[Diagnostic]:
    """Diagnostics that stop ``class_name`` from being compiled; empty if it can be.

    A file that did not parse gets none: its CL001 already says everything.
    """
    if any(d.code == "CL001" for d in program.diagnostics):
        return []
    found = program.class_(class_name)
    if found is None:
        return [_not_found(program, class_name)]
    where = found.location
    if found.kind != "module":
        hint = (
            "it is a Signature; wrap it in a Module whose forward calls a predictor"
            if found.kind == "signature"
            else "castlm compiles subclasses of castlm's Module defined in this file"
        )
        return [
            Diagnostic(
                program.path,
                where.line,
                where.col,
                "CL302",
                f"'{class_name}' is not a castlm Module",
                hint,
            )
        ]
    module = program.module(class_name)
    if module is None or module.forward is None:
        return [
            Diagnostic(
                program.path,
                where.line,
                where.col,
                "CL303",
                f"module '{class_name}' has no forward method",
                "define 'def forward(self, ...)' or 'async def aforward(self, ...)'",
            )
        ]
    return []


def _not_found(program: ProgramIR, class_name: str) -> Diagnostic:
    modules = [m.name for m in program.modules]
    available = ", ".join(modules) if modules else "none"
    hint = did_you_mean(class_name, modules) or f"modules in this file: {available}"
    return Diagnostic(
        program.path, 1, 1, "CL301", f"class '{class_name}' not found in {program.path}", hint
    )
