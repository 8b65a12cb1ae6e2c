"""castlm: typed language-model programs, compiled at build time."""

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
from ._adapter import Adapter, ChatAdapter, JSONAdapter
from ._context import TraceStep, context, trace
from ._example import Example, examples
from ._lm import LM, LMRequest, LMResponse, LMStats, Usage
from ._module import Module
from ._predict import ChainOfThought, Predict, PredictorParams
from ._signature import InputField, OutputField, Signature, SignatureSpec, spec_of

__version__ = "0.1.0"

__all__ = [
    "Adapter",
    "ChainOfThought",
    "ChatAdapter",
    "Example",
    "InputField",
    "JSONAdapter",
    "Module",
    "OutputField",
    "Predict",
    "PredictorParams",
    "Signature",
    "SignatureSpec",
    "TraceStep",
    "context",
    "examples",
    "spec_of",
    "trace",
    "LM",
    "CacheError",
    "CastlmError",
    "ConfigurationError",
    "InputError",
    "LMConnectionError",
    "LMError",
    "LMRequest",
    "LMResponse",
    "LMResponseError",
    "LMStats",
    "LMStatusError",
    "LMTimeoutError",
    "ParseError",
    "SignatureError",
    "Usage",
]
