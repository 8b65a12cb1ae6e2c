"""Choosing each predictor's LM from code and from the environment.

A program may use a cheap model for one stage and a strong one for another. An emitted
package calls :func:`configure_lms` from ``load()``, so the choice can be changed where the
package runs, without editing it: ``CASTLM_MODEL__<PREDICTOR_PATH>`` names the LM of one
predictor (its dotted path upper-cased, dots written as double underscores: ``hops.0`` ->
``CASTLM_MODEL__HOPS__0``). A comma-separated list of names makes a :class:`FallbackLM`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from typing import Any, cast

from ..base._errors import ConfigurationError
from ..base._features import not_vendored
from ._lm import LM, ResponseCache
from ._lm_factory import make_lm

ENV_PREFIX = "CASTLM_MODEL"

LMChoice = LM | str

# What the runtime calls on an LM: an object with these is one, whichever copy of the runtime
# defined its class (castlm itself, or the vendored ``_runtime`` of another emitted package).
_LM_METHODS = ("request", "complete", "acomplete")


def as_lm(choice: object, what: str = "lm") -> LM:
    """``choice`` as an LM: this runtime's, castlm's or another package's; a ConfigurationError
    naming ``what`` (the argument) for anything else."""
    if isinstance(choice, LM):
        return choice
    methods = all(callable(getattr(choice, name, None)) for name in _LM_METHODS)
    if methods and isinstance(getattr(choice, "model", None), str):
        return cast(LM, choice)
    raise ConfigurationError(
        f"{what}= takes an LM object (castlm.LM or any castlm runtime's LM) or an LM name such "
        f"as 'openai/gpt-4o-mini', 'litellm/anthropic/claude-3-5-haiku-latest' or 'standin'; "
        f"got a {type(choice).__name__}"
    )


def env_var(path: str, prefix: str = ENV_PREFIX) -> str:
    """The variable naming the LM of the predictor at ``path``: ``route`` ->
    ``CASTLM_MODEL__ROUTE``."""
    return f"{prefix}__{path.replace('.', '__').upper()}"


def configure_lms(
    program: Any,
    *,
    default: LMChoice | None = None,
    per_predictor: Mapping[str, LMChoice] | None = None,
    env: Mapping[str, str] | None = None,
    env_prefix: str = ENV_PREFIX,
    base_url: str | None = None,
    api_key: str | None = None,
    cache: ResponseCache | None = None,
    make: Callable[[str], LM] | None = None,
) -> dict[str, LM | None]:
    """Set the LM of every predictor of ``program`` (a Module); returns path -> LM.

    For each predictor, the first of these that is set wins:

    1. ``$CASTLM_MODEL__<PATH>`` in ``env`` (default ``os.environ``; ``{}`` ignores it);
    2. ``per_predictor[path]``;
    3. ``default``;
    4. the LM the predictor already has.

    LMs are LM objects or names (see ``castlm.make_lm``; ``base_url``, ``api_key`` and
    ``cache`` apply to names, or pass ``make``). Equal names share one LM object, hence one
    connection pool. An unknown path in ``per_predictor`` is an error; a variable naming no
    predictor is reported with a warning (it may belong to another program).
    """
    named = dict(program.named_predictors())
    choices = dict(per_predictor or {})
    for path in choices:
        if path not in named:
            raise ConfigurationError(_unknown(path, named))
    environ = os.environ if env is None else env
    _warn_unknown_vars(environ, env_prefix, named)
    resolve = _Resolver(make or _maker(base_url, api_key, cache))
    chosen: dict[str, LM | None] = {}
    for path, predictor in named.items():
        choice = environ.get(env_var(path, env_prefix), "").strip() or choices.get(path) or default
        if choice:
            predictor.lm = resolve(choice)
        chosen[path] = predictor.lm
    return chosen


class _Resolver:
    def __init__(self, make: Callable[[str], LM]) -> None:
        self._make = make
        self._made: dict[str, LM] = {}

    def __call__(self, choice: LMChoice) -> LM:
        if not isinstance(choice, str):
            return as_lm(choice)
        names = [n.strip() for n in choice.split(",") if n.strip()]
        if not names:
            raise ConfigurationError(f"the LM name {choice!r} is empty")
        lms = [self._one(n) for n in names]
        return lms[0] if len(lms) == 1 else _fallback(lms, choice)

    def _one(self, name: str) -> LM:
        if name not in self._made:
            self._made[name] = self._make(name)
        return self._made[name]


def _fallback(lms: list[LM], choice: str) -> LM:
    try:
        from ._fallback import FallbackLM  # type: ignore[import-not-found, unused-ignore]
    except ModuleNotFoundError as exc:  # a package compiled with one model per predictor
        raise not_vendored("fallback", f"the fallback chain {choice!r}", exc) from exc
    return cast(LM, FallbackLM(lms))  # its type checkers may find no _fallback to read


def _maker(
    base_url: str | None, api_key: str | None, cache: ResponseCache | None
) -> Callable[[str], LM]:
    def make(name: str) -> LM:
        return make_lm(name, base_url=base_url, api_key=api_key, cache=cache)

    return make


def _warn_unknown_vars(environ: Mapping[str, str], prefix: str, named: Mapping[str, Any]) -> None:
    known = {env_var(path, prefix) for path in named}
    for var in environ:
        if var.startswith(prefix + "__") and var not in known:
            import difflib  # only on this warning's path: keeps importing a package lean

            close = difflib.get_close_matches(var, sorted(known), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            warnings.warn(
                f"{var} names no predictor of this program{hint}; its variables are "
                f"{sorted(known)}",
                stacklevel=3,
            )


def _unknown(path: str, named: Mapping[str, Any]) -> str:
    import difflib  # only on this error's path

    close = difflib.get_close_matches(path, list(named), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"configure_lms: the program has no predictor {path!r}{hint}; it has {sorted(named)}"
