"""ParamIR for a method's parameters, as the emitter re-declares them."""

from __future__ import annotations

import libcst as cst
from castlm.compiler.analyze.context import Locator
from castlm.compiler.ir import ParamIR, ParamStar


def _param(param: cst.Param, keyword_only: bool, star: ParamStar, locator: Locator) -> ParamIR:
    return ParamIR(
        name=param.name.value,
        annotation=None if param.annotation is None else locator.code(param.annotation.annotation),
        default=None if param.default is None else locator.code(param.default),
        keyword_only=keyword_only,
        star=star,
    )


def method_params(function: cst.FunctionDef, locator: Locator) -> tuple[ParamIR, ...]:
    """The parameters of a method without ``self``, in declaration order."""
    parameters = function.params
    positional = [*parameters.posonly_params, *parameters.params][1:]
    result = [_param(p, False, "", locator) for p in positional]
    if isinstance(parameters.star_arg, cst.Param):
        result.append(_param(parameters.star_arg, False, "*", locator))
    result.extend(_param(p, True, "", locator) for p in parameters.kwonly_params)
    if parameters.star_kwarg is not None:
        result.append(_param(parameters.star_kwarg, False, "**", locator))
    return tuple(result)
