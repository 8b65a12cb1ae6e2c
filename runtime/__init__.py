"""castlm: typed language-model programs, compiled at build time.

This package is what programs import to declare signatures and modules, and it is also the
runtime vendored into every emitted package, so importing it stays cheap: backends that pull
in httpx or litellm load on first use.
"""

from typing import TYPE_CHECKING, Any

from ._adapter import Adapter, ChatAdapter, JSONAdapter
from ._cache import CacheWarning, LMCache
from ._context import TraceStep, context, trace
from ._errors import (
    CacheError,
    CastlmError,
    ConfigurationError,
    InputError,
    LMConnectionError,
    LMError,
    LMResponseError,
    LMStatusError,
    LMTimeoutError,
    ParseError,
    SignatureError,
)
from ._example import Example, examples
from ._lm import LM, LMRequest, LMResponse, LMStats, Usage
from ._lm_factory import make_lm
from ._module import Module
from ._predict import ChainOfThought, Predict, PredictorParams
from ._signature import InputField, OutputField, Signature, SignatureSpec, spec_of

if TYPE_CHECKING:
    from ._litellm import LiteLLMLM
    from ._openai import OpenAIChatLM

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # The HTTP backends import httpx (or litellm); load them only when asked for.
    if name == "OpenAIChatLM":
        from ._openai import OpenAIChatLM

        return OpenAIChatLM
    if name == "LiteLLMLM":
        from ._litellm import LiteLLMLM

        return LiteLLMLM
    raise AttributeError(f"module 'castlm' has no attribute {name!r}")


__all__ = [
    "LM",
    "Adapter",
    "CacheError",
    "CacheWarning",
    "CastlmError",
    "ChainOfThought",
    "ChatAdapter",
    "ConfigurationError",
    "Example",
    "InputError",
    "InputField",
    "JSONAdapter",
    "LMCache",
    "LMConnectionError",
    "LMError",
    "LMRequest",
    "LMResponse",
    "LMResponseError",
    "LMStats",
    "LMStatusError",
    "LMTimeoutError",
    "LiteLLMLM",
    "Module",
    "OpenAIChatLM",
    "OutputField",
    "ParseError",
    "Predict",
    "PredictorParams",
    "Signature",
    "SignatureError",
    "SignatureSpec",
    "TraceStep",
    "Usage",
    "context",
    "examples",
    "make_lm",
    "spec_of",
    "trace",
]
