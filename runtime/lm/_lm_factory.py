"""Turning an LM *name* from a config file or the command line into an LM object.

Names:

* ``"standin"``: castlm's offline stand-in model (``castlm.testing.StandInLM``), for trying the
  toolchain without any endpoint;
* ``"litellm/<provider>/<model>"``: :class:`LiteLLMLM` (needs ``castlm[litellm]``);
* ``"openai/<model>"`` or a bare ``"<model>"``: :class:`OpenAIChatLM` against
  ``base_url`` / ``$CASTLM_BASE_URL`` / ``$OPENAI_BASE_URL`` / OpenAI.

Backends are imported on demand so that a vendored runtime only loads what it uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from ..base._errors import ConfigurationError
from ..base._features import not_vendored
from ._lm import LM, ResponseCache

STANDIN = "standin"
LITELLM_PREFIX = "litellm/"
OPENAI_PREFIX = "openai/"

_NAME_HELP = (
    "use 'openai/<model>' (or a bare model name) for an OpenAI-compatible endpoint, "
    "'litellm/<provider>/<model>' for litellm, or 'standin' for the offline stand-in"
)


def make_lm(
    name: str,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    cache: ResponseCache | None = None,
    **kwargs: Any,
) -> LM:
    """The LM a name stands for; ``kwargs`` go to the backend's constructor.

    ``base_url`` and ``api_key`` are ignored for ``"standin"``, which never leaves the process.
    """
    name = name.strip()
    if not name:
        raise ConfigurationError(f"the LM name is empty; {_NAME_HELP}")
    if name == STANDIN:
        return _standin(cache, kwargs)
    if name.startswith(LITELLM_PREFIX):
        try:
            from ._litellm import LiteLLMLM  # type: ignore[import-not-found, unused-ignore]
        except ModuleNotFoundError as exc:  # a package compiled for another backend
            raise not_vendored("litellm", f"the LM {name!r}", exc) from exc

        model = _model_after(name, LITELLM_PREFIX)
        # cast: the vendored runtime's type checkers may find no _litellm to read.
        return cast(LM, LiteLLMLM(model, base_url=base_url, api_key=api_key, cache=cache, **kwargs))

    from ._openai import OpenAIChatLM

    _check_keywords(OpenAIChatLM, kwargs)
    model = _model_after(name, OPENAI_PREFIX) if name.startswith(OPENAI_PREFIX) else name
    return OpenAIChatLM(model, base_url=base_url, api_key=api_key, cache=cache, **kwargs)


def _check_keywords(backend: type[LM], kwargs: dict[str, Any]) -> None:
    """A misspelled setting is a ConfigurationError with a suggestion, not a TypeError."""
    import inspect

    accepted = set(inspect.signature(backend.__init__).parameters)
    for key in kwargs:
        if key not in accepted:
            from ._lm_settings import check_settings

            check_settings({key: kwargs[key]}, where=f"{backend.__name__} settings")


def _standin(cache: ResponseCache | None, kwargs: dict[str, Any]) -> LM:
    # Imported at call time: castlm.testing is only loaded when the stand-in is asked for, and
    # a vendored runtime may leave it out (then mypy, checking the package, cannot find it).
    try:
        from ..testing._standin import StandInLM  # type: ignore[import-not-found, unused-ignore]
    except ImportError as exc:
        raise ConfigurationError(
            "the 'standin' LM is not available in this castlm runtime (castlm.testing is "
            "missing); pick a real model name instead"
        ) from exc
    # It never waits on a network, so it has no timeout and no connections to bound.
    kwargs.pop("timeout", None)
    kwargs.pop("max_connections", None)
    # A cast, not an inferred type: where testing/ is not vendored, pyright knows nothing of
    # the class, and the inferred type would be Unknown (an error in strict mode).
    make = cast("Callable[..., LM]", StandInLM)
    return make(cache=cache, **kwargs)


def _model_after(name: str, prefix: str) -> str:
    model = name[len(prefix) :].strip()
    if not model:
        raise ConfigurationError(
            f"the LM name {name!r} has no model after {prefix!r}; {_NAME_HELP}"
        )
    return model
