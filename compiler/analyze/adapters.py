"""Checks a predictor's ``adapter=`` argument when it is a string (CL210).

The runtime raises on an unknown name when the predictor is built; reporting it here puts
the file and line in front of the user before anything runs. Adapter objects are not
checked statically: the runtime checks that they have the protocol's methods.
"""

from __future__ import annotations

from castlm.compiler.analyze.context import Reporter
from castlm.compiler.analyze.literals import string_value
from castlm.compiler.analyze.predictors import PredictorConstructor
from castlm.compiler.diagnostics import did_you_mean
from castlm.core._adapter_protocol import ADAPTER_NAMES


def check_adapter_argument(constructor: PredictorConstructor, reporter: Reporter) -> None:
    """Reports ``Predict(X, adapter="xml")``: a name that is not a built-in adapter."""
    for arg in constructor.call.args:
        if arg.keyword is None or arg.keyword.value != "adapter":
            continue
        name = string_value(arg.value)
        if name is None or name in ADAPTER_NAMES:
            return
        names = ", ".join(repr(n) for n in ADAPTER_NAMES)
        close = did_you_mean(name, ADAPTER_NAMES)
        hint = f"{close} " if close else ""
        reporter.report(
            arg.value,
            "CL210",
            f"unknown adapter '{name}' for {constructor.kind}()",
            f"{hint}use one of {names}, or pass an adapter object (castlm.AdapterProtocol)",
        )
