"""castlm: typed language-model programs, compiled at build time.

This package is what programs import to declare signatures and modules, and it is also the
runtime vendored into every emitted package, so importing it stays cheap: backends that pull
in httpx or litellm load on first use.
"""

import importlib
from typing import TYPE_CHECKING, Any

from .base._errors import (
    CacheError,
    CastlmError,
    CircuitOpenError,
    ConfigurationError,
    FallbackError,
    GuardError,
    InputError,
    LMConnectionError,
    LMError,
    LMResponseError,
    LMStatusError,
    LMTimeoutError,
    MCPError,
    ParseError,
    SandboxError,
    SignatureError,
    StreamInterruptedError,
    ToolError,
)
from .base._version import __version__ as __version__
from .core._adapter import Adapter, ChatAdapter, JSONAdapter
from .core._adapter_protocol import AdapterProtocol
from .core._context import TraceStep, context, trace
from .core._example import Example, examples
from .core._module import Module, TypedModule
from .core._predict import ChainOfThought, Predict, PredictorParams
from .core._results import reasoning_of, trajectory_of
from .core._signature import InputField, OutputField, Signature, SignatureSpec, spec_of
from .lm._lm import LM, LMRequest, LMResponse, LMStats, ToolCall, Usage

if TYPE_CHECKING:
    from .agents._codeact import CodeAct
    from .agents._program_of_thought import ProgramOfThought
    from .agents._react import ReAct
    from .agents._refine import Refine
    from .base._blocking import Blocking, blocking
    from .base._image import Image
    from .core._batch import BatchResult, Err, Ok, Outcome, abatch, batch
    from .core._history import History
    from .core._knn import KNNDemos, KNNPool, PoolEntry, load_knn_pools, set_embedder
    from .core._program_stream import (
        FieldDelta,
        Finished,
        PredictorDone,
        ProgramEvent,
        ProgramStream,
        Status,
    )
    from .core._stream import Done, Partial, StreamEvent
    from .embed._embed import Embedder, make_embedder
    from .embed._local_embed import SentenceTransformerEmbedder
    from .embed._openai_embed import OpenAIEmbedder
    from .lm._breaker import BreakerPolicy, CircuitBreaker
    from .lm._cache import CacheWarning, LMCache
    from .lm._fallback import FallbackLM
    from .lm._litellm import LiteLLMLM
    from .lm._lm_config import configure_lms
    from .lm._lm_factory import make_lm
    from .lm._openai import OpenAIChatLM
    from .lm._ratelimit import RateLimit, RateLimiter
    from .lm._retry import RetryPolicy
    from .modules._best_of_n import BestOfN
    from .modules._ensemble import Ensemble, majority
    from .modules._multi_chain import MultiChainComparison
    from .modules._parallel import Parallel
    from .observe._guards import AuditRecord, Guard, add_audit_hook
    from .observe._otel import configure_tracing
    from .observe._pricing import cost_of, price_of, set_prices
    from .observe._usage import LMCallRecord, UsageReport, UsageSummary, track_usage
    from .retrieval._embeddings_retriever import EmbeddingsRetriever
    from .retrieval._retrieve import BM25, Passage, Retrieve, Retriever, load_passages
    from .sandbox._sandbox import Sandbox, SandboxResult
    from .tools._mcp import MCPClient, MCPTool
    from .tools._tool import Observation, Tool


# Loaded when first used: the HTTP backends import httpx (or litellm), and the rest is not
# needed by a program that only calls its predictors (import time and memory count for every
# emitted package: benchmarks/RESULTS.md). The call path finds out whether usage reports,
# guards, audit hooks or tracing are in use without importing them (_instrument).
_LAZY = {
    "CacheWarning": ".lm._cache",
    "LMCache": ".lm._cache",
    "AuditRecord": ".observe._guards",
    "Guard": ".observe._guards",
    "add_audit_hook": ".observe._guards",
    "make_lm": ".lm._lm_factory",
    "configure_tracing": ".observe._otel",
    "LMCallRecord": ".observe._usage",
    "UsageReport": ".observe._usage",
    "UsageSummary": ".observe._usage",
    "track_usage": ".observe._usage",
    "Tool": ".tools._tool",
    "Observation": ".tools._tool",
    "ReAct": ".agents._react",
    "Sandbox": ".sandbox._sandbox",
    "SandboxResult": ".sandbox._sandbox",
    "ProgramOfThought": ".agents._program_of_thought",
    "CodeAct": ".agents._codeact",
    "BestOfN": ".modules._best_of_n",
    "Refine": ".agents._refine",
    "MultiChainComparison": ".modules._multi_chain",
    "Parallel": ".modules._parallel",
    "Passage": ".retrieval._retrieve",
    "Retriever": ".retrieval._retrieve",
    "BM25": ".retrieval._retrieve",
    "Retrieve": ".retrieval._retrieve",
    "load_passages": ".retrieval._retrieve",
    "EmbeddingsRetriever": ".retrieval._embeddings_retriever",
    "MCPClient": ".tools._mcp",
    "MCPTool": ".tools._mcp",
    "OpenAIChatLM": ".lm._openai",
    "LiteLLMLM": ".lm._litellm",
    "BatchResult": ".core._batch",
    "Err": ".core._batch",
    "Ok": ".core._batch",
    "Outcome": ".core._batch",
    "abatch": ".core._batch",
    "batch": ".core._batch",
    "Blocking": ".base._blocking",
    "blocking": ".base._blocking",
    "BreakerPolicy": ".lm._breaker",
    "CircuitBreaker": ".lm._breaker",
    "FallbackLM": ".lm._fallback",
    "History": ".core._history",
    "Image": ".base._image",
    "configure_lms": ".lm._lm_config",
    "cost_of": ".observe._pricing",
    "price_of": ".observe._pricing",
    "set_prices": ".observe._pricing",
    "RateLimit": ".lm._ratelimit",
    "RateLimiter": ".lm._ratelimit",
    "RetryPolicy": ".lm._retry",
    "Done": ".core._stream",
    "Partial": ".core._stream",
    "StreamEvent": ".core._stream",
    "FieldDelta": ".core._program_stream",
    "Finished": ".core._program_stream",
    "PredictorDone": ".core._program_stream",
    "ProgramEvent": ".core._program_stream",
    "ProgramStream": ".core._program_stream",
    "Status": ".core._program_stream",
    "Embedder": ".embed._embed",
    "make_embedder": ".embed._embed",
    "OpenAIEmbedder": ".embed._openai_embed",
    "SentenceTransformerEmbedder": ".embed._local_embed",
    "KNNDemos": ".core._knn",
    "KNNPool": ".core._knn",
    "PoolEntry": ".core._knn",
    "load_knn_pools": ".core._knn",
    "set_embedder": ".core._knn",
    "Ensemble": ".modules._ensemble",
    "majority": ".modules._ensemble",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'castlm' has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)


__all__ = [
    "BM25",
    "LM",
    "Adapter",
    "AdapterProtocol",
    "AuditRecord",
    "BatchResult",
    "BestOfN",
    "Blocking",
    "BreakerPolicy",
    "CacheError",
    "CacheWarning",
    "CastlmError",
    "ChainOfThought",
    "ChatAdapter",
    "CircuitBreaker",
    "CircuitOpenError",
    "CodeAct",
    "ConfigurationError",
    "Done",
    "Embedder",
    "EmbeddingsRetriever",
    "Ensemble",
    "Err",
    "Example",
    "FallbackError",
    "FallbackLM",
    "FieldDelta",
    "Finished",
    "Guard",
    "GuardError",
    "History",
    "Image",
    "InputError",
    "InputField",
    "JSONAdapter",
    "KNNDemos",
    "KNNPool",
    "LMCache",
    "LMCallRecord",
    "LMConnectionError",
    "LMError",
    "LMRequest",
    "LMResponse",
    "LMResponseError",
    "LMStats",
    "LMStatusError",
    "LMTimeoutError",
    "LiteLLMLM",
    "MCPClient",
    "MCPError",
    "MCPTool",
    "Module",
    "MultiChainComparison",
    "Observation",
    "Ok",
    "OpenAIChatLM",
    "OpenAIEmbedder",
    "Outcome",
    "OutputField",
    "Parallel",
    "ParseError",
    "Partial",
    "Passage",
    "PoolEntry",
    "Predict",
    "PredictorDone",
    "PredictorParams",
    "ProgramEvent",
    "ProgramOfThought",
    "ProgramStream",
    "RateLimit",
    "RateLimiter",
    "ReAct",
    "Refine",
    "Retrieve",
    "Retriever",
    "RetryPolicy",
    "Sandbox",
    "SandboxError",
    "SandboxResult",
    "SentenceTransformerEmbedder",
    "Signature",
    "SignatureError",
    "SignatureSpec",
    "Status",
    "StreamEvent",
    "StreamInterruptedError",
    "Tool",
    "ToolCall",
    "ToolError",
    "TraceStep",
    "TypedModule",
    "Usage",
    "UsageReport",
    "UsageSummary",
    "abatch",
    "add_audit_hook",
    "batch",
    "blocking",
    "configure_lms",
    "configure_tracing",
    "context",
    "cost_of",
    "examples",
    "load_knn_pools",
    "load_passages",
    "majority",
    "make_embedder",
    "make_lm",
    "price_of",
    "reasoning_of",
    "set_embedder",
    "set_prices",
    "spec_of",
    "trace",
    "track_usage",
    "trajectory_of",
]
