"""Recognizes predictor constructors (``cl.Predict(Triage)``) and checks their signature.

``PREDICTOR_KINDS`` is the one place that lists predictor classes: add new kinds
here together with the extra attributes their results carry. ``COMPOUND_KINDS`` lists the
castlm modules that hold predictors of their own (ReAct, ...) with the names the runtime gives
them, and ``WRAPPER_KINDS`` those that run another module (BestOfN, Refine, Parallel).
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst
from castlm.compiler.analyze.classes import ClassClassifier
from castlm.compiler.analyze.context import Reporter
from castlm.compiler.analyze.imports import Aliases, dotted_name
from castlm.compiler.diagnostics import did_you_mean
from castlm.compiler.ir import ToplevelKind

# Predictor class -> attributes its results have on top of the signature's fields.
PREDICTOR_KINDS: dict[str, tuple[str, ...]] = {
    "Predict": (),
    "ChainOfThought": ("reasoning",),
    # Compound modules, called like a predictor of their signature argument.
    "ReAct": ("reasoning", "trajectory"),
    "CodeAct": ("reasoning", "trajectory"),
    "ProgramOfThought": ("reasoning", "code", "code_output"),
    "MultiChainComparison": ("reasoning", "attempts"),
}

# Compound module -> its predictors, as the runtime names them below the attribute
# ("agent.react"), with their kind and whether their signature is the compound's own
# (False: one derived from it, which the analyzer does not see).
COMPOUND_KINDS: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "ReAct": (("react", "Predict", False), ("extract", "ChainOfThought", False)),
    "CodeAct": (("codeact", "Predict", False), ("extract", "ChainOfThought", False)),
    "ProgramOfThought": (
        ("generate", "ChainOfThought", False),
        ("regenerate", "ChainOfThought", False),
        ("extract", "ChainOfThought", False),
    ),
    "MultiChainComparison": (
        ("generate", "ChainOfThought", True),
        ("compare", "ChainOfThought", False),
    ),
}

# Wrapper -> predictors of its own (beyond the wrapped module, named "<attr>.module"), and
# whether calling it is like calling the wrapped module (Parallel takes a list of inputs).
WRAPPER_KINDS: dict[str, tuple[tuple[tuple[str, str], ...], bool]] = {
    "BestOfN": ((), True),
    "Refine": ((("feedback", "ChainOfThought"),), True),
    "Parallel": ((), False),
}
WRAPPED_NAME = "module"


@dataclass(frozen=True)
class PredictorConstructor:
    call: cst.Call
    kind: str
    # The Signature argument, positional or ``signature=``; None when absent.
    signature: cst.BaseExpression | None


def predictor_constructor(
    node: cst.BaseExpression, aliases: Aliases
) -> PredictorConstructor | None:
    """Recognize ``cl.Predict(...)``, ``ChainOfThought(signature=...)`` and friends, and the
    compound modules that take a signature (``cl.ReAct(QA, tools=...)``)."""
    if not isinstance(node, cst.Call):
        return None
    kind = aliases.castlm_name(node.func)
    if kind not in PREDICTOR_KINDS:
        return None
    keyword = next((a.value for a in node.args if _keyword(a) == "signature"), None)
    positional = next((a.value for a in node.args if a.keyword is None and not a.star), None)
    return PredictorConstructor(node, kind, keyword or positional)


def result_attributes(kind: str) -> tuple[str, ...]:
    """Attributes a call's result has besides its signature's fields. A wrapper's call
    target has the kind ``"BestOfN:ChainOfThought"``: its results are the wrapped one's."""
    outer, _, inner = kind.partition(":")
    return PREDICTOR_KINDS.get(inner or outer, ())


def is_call_target(kind: str) -> bool:
    """True for the entries that stand for a compound or wrapper module itself: they are
    checked when called, but they are not predictors of their own."""
    outer = kind.partition(":")[0]
    return outer in COMPOUND_KINDS or outer in WRAPPER_KINDS


def wrapper_constructor(
    node: cst.BaseExpression, aliases: Aliases
) -> tuple[str, cst.BaseExpression | None] | None:
    """``cl.BestOfN(module, ...)``: the wrapper's kind and the wrapped expression."""
    if not isinstance(node, cst.Call):
        return None
    kind = aliases.castlm_name(node.func)
    if kind not in WRAPPER_KINDS:
        return None
    keyword = next((a.value for a in node.args if _keyword(a) == WRAPPED_NAME), None)
    positional = next((a.value for a in node.args if a.keyword is None and not a.star), None)
    return kind, keyword or positional


def _keyword(arg: cst.Arg) -> str | None:
    return None if arg.keyword is None else arg.keyword.value


class SignatureArgumentChecker:
    """Checks a predictor's signature argument names a Signature class (CL206/CL207)."""

    def __init__(
        self,
        aliases: Aliases,
        classifier: ClassClassifier,
        toplevel: dict[str, ToplevelKind],
        reporter: Reporter,
    ) -> None:
        self._aliases = aliases
        self._classifier = classifier
        self._toplevel = toplevel
        self._reporter = reporter

    def signature_name(self, constructor: PredictorConstructor) -> str | None:
        """The signature's dotted name, reporting when it is missing or not a Signature."""
        argument = constructor.signature
        name = None if argument is None else dotted_name(argument)
        if argument is None or name is None:
            self._reporter.report(
                argument or constructor.call,
                "CL206",
                f"{constructor.kind}() needs a Signature class as its first argument",
                "declare a 'class MySignature(Signature)' and pass it",
            )
            return None
        self._check_is_signature(argument, name)
        return name

    def _check_is_signature(self, argument: cst.BaseExpression, name: str) -> None:
        root = name.split(".")[0]
        if self._aliases.is_imported(root):
            return
        kind = self._toplevel.get(root)
        if kind == "class" and "." not in name:
            class_kind = self._classifier.kind(name)
            if class_kind not in {"signature", "external"}:
                self._report_not_signature(argument, f"'{name}' is not a Signature class", None)
        elif kind == "function":
            self._report_not_signature(argument, f"'{name}' is a function, not a Signature", None)
        elif kind is None and not self._aliases.star_modules:
            signatures = [n for n, k in self._toplevel.items() if k == "class"]
            hint = did_you_mean(name, [n for n in signatures if self._is_signature(n)])
            self._report_not_signature(argument, f"unknown signature '{name}'", hint)

    def _is_signature(self, name: str) -> bool:
        return self._classifier.kind(name) == "signature"

    def _report_not_signature(
        self, argument: cst.BaseExpression, message: str, hint: str | None
    ) -> None:
        self._reporter.report(
            argument, "CL207", message, hint or "subclass castlm's Signature to declare one"
        )
