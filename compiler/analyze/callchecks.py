"""Checks predictor calls and result reads against signatures (CL201-CL203, CL205, CL208).

Checks only run when castlm knows the whole signature: a signature imported from
another file, or one extending such a signature, is trusted as written.
"""

from __future__ import annotations

from collections.abc import Mapping

import libcst as cst
from castlm.compiler.analyze.context import Reporter
from castlm.compiler.analyze.predictors import result_attributes
from castlm.compiler.analyze.reserved import is_result_attribute
from castlm.compiler.analyze.valuetypes import expected_type, static_value
from castlm.compiler.diagnostics import closest, did_you_mean
from castlm.compiler.ir import PredictorIR, SignatureIR


class CallChecker:
    def __init__(self, signatures: dict[str, SignatureIR], reporter: Reporter) -> None:
        self._signatures = signatures
        self._reporter = reporter

    def known_signature(self, predictor: PredictorIR) -> SignatureIR | None:
        """The predictor's signature if castlm knows all its fields."""
        signature = self._signatures.get(predictor.signature or "")
        return signature if signature is not None and signature.complete else None

    def check_call(
        self,
        call: cst.Call,
        callee: str,
        predictor: PredictorIR,
        typed_params: Mapping[str, str] | None = None,
    ) -> None:
        """``typed_params``: forward's parameters whose builtin type is sure (valuetypes)."""
        signature = self.known_signature(predictor)
        positional = [arg for arg in call.args if arg.keyword is None and arg.star != "**"]
        for index, arg in enumerate(positional):
            self._report_positional(arg, index, callee, signature)
        if signature is None:
            return
        for arg in call.args:
            if arg.keyword is not None and self._check_keyword(arg.keyword, signature):
                self._check_type(arg, signature, typed_params or {})
        # With positional or ``**kwargs`` arguments the passed fields are not known.
        if not positional and not any(arg.star == "**" for arg in call.args):
            self._check_missing(call, callee, signature)

    def _report_positional(
        self, arg: cst.Arg, index: int, callee: str, signature: SignatureIR | None
    ) -> None:
        inputs = signature.inputs if signature is not None else ()
        example = inputs[index].name if index < len(inputs) else "field"
        self._reporter.report(
            arg,
            "CL205",
            f"positional argument in call to predictor '{callee}'",
            f"pass input fields by keyword, e.g. {example}=...",
        )

    def _check_keyword(self, keyword: cst.Name, signature: SignatureIR) -> bool:
        """True when ``keyword`` is an input field; reports it (CL201) otherwise."""
        name = keyword.value
        inputs = [f.name for f in signature.inputs]
        if name in inputs:
            return True
        if name in {f.name for f in signature.outputs}:
            hint: str | None = f"'{name}' is an output field of '{signature.name}'"
        else:
            hint = did_you_mean(name, inputs) or f"inputs are: {', '.join(inputs) or 'none'}"
        self._reporter.report(
            keyword, "CL201", f"unknown input field '{name}' for signature '{signature.name}'", hint
        )
        return False

    def _check_type(
        self, arg: cst.Arg, signature: SignatureIR, typed_params: Mapping[str, str]
    ) -> None:
        assert arg.keyword is not None
        field = signature.field(arg.keyword.value)
        expected = expected_type(field.annotation) if field is not None else None
        value = static_value(arg.value, typed_params)
        if expected is None or value is None or expected.accepts(value):
            return
        self._reporter.report(
            arg.value,
            "CL208",
            f"input field '{arg.keyword.value}' of signature '{signature.name}' is "
            f"{expected.describe()}, but this value is {value.describe()}",
            expected.hint(),
        )

    def _check_missing(self, call: cst.Call, callee: str, signature: SignatureIR) -> None:
        passed = {arg.keyword.value for arg in call.args if arg.keyword is not None}
        inputs = [f.name for f in signature.inputs]
        # A misspelled keyword is already reported (CL201) with the field it was meant to be.
        meant = {close for name in passed - set(inputs) if (close := closest(name, inputs))}
        for field in signature.inputs:
            if not field.has_default and field.name not in passed | meant:
                self._reporter.report(
                    call,
                    "CL202",
                    f"missing input field '{field.name}' of signature '{signature.name}' "
                    f"in call to predictor '{callee}'",
                    f"pass {field.name}=...",
                )

    def check_read(self, node: cst.Attribute, variable: str, predictors: list[PredictorIR]) -> bool:
        """Check ``variable.attr`` on a result of ``predictors``; True if the read is valid."""
        attribute = node.attr.value
        if is_result_attribute(attribute):
            return False
        allowed: set[str] = set()
        for predictor in predictors:
            signature = self.known_signature(predictor)
            if signature is None:
                return True
            allowed |= {f.name for f in signature.fields}
            allowed |= set(result_attributes(predictor.kind))
        if attribute in allowed:
            return True
        names = ", ".join(sorted({p.path for p in predictors}))
        self._reporter.report(
            node.attr,
            "CL203",
            f"'{variable}' (result of '{names}') has no field '{attribute}'",
            did_you_mean(attribute, allowed) or f"fields are: {', '.join(sorted(allowed))}",
        )
        return False
