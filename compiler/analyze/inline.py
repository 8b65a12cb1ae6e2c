"""Reports predictors constructed inside ``forward`` (CL204).

Such a predictor is rebuilt on every call and has no stable name, so the
optimizer cannot tune it; only predictors assigned in ``__init__`` are optimized.
"""

from __future__ import annotations

import libcst as cst
from castlm.compiler.analyze.context import Reporter
from castlm.compiler.analyze.imports import Aliases
from castlm.compiler.analyze.predictors import predictor_constructor


class InlinePredictorFinder(cst.CSTVisitor):
    def __init__(self, aliases: Aliases, reporter: Reporter) -> None:
        self._aliases = aliases
        self._reporter = reporter

    def visit_Call(self, node: cst.Call) -> None:
        constructor = predictor_constructor(node, self._aliases)
        if constructor is not None:
            self._reporter.report(
                node,
                "CL204",
                f"{constructor.kind}() created inside forward cannot be optimized",
                "create it in __init__ as 'self.<name> = ...' and call that",
            )
