"""castlm: typed language-model programs, compiled at build time.

This package is what programs import to declare signatures and modules, and it is also the
runtime vendored into every emitted package, so importing it stays cheap: backends that pull
in httpx or litellm load on first use.
"""

import importlib
from typing import TYPE_CHECKING, Any

from ._adapter import Adapter, ChatAdapter, JSONAdapter
from ._adapter_protocol import AdapterProtocol
from ._context import TraceStep, context, trace
from ._errors import (
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
from ._example import Example, examples
from ._image import Image
from ._lm import LM, LMRequest, LMResponse, LMStats, ToolCall, Usage
from ._module import Module, TypedModule
from ._predict import ChainOfThought, Predict, PredictorParams
from ._signature import InputField, OutputField, Signature, SignatureSpec, spec_of

if TYPE_CHECKING:
    from ._batch import BatchResult, Err, Ok, Outcome, abatch, batch
    from ._best_of_n import BestOfN
    from ._blocking import Blocking, blocking
    from ._breaker import BreakerPolicy, CircuitBreaker
    from ._cache import CacheWarning, LMCache
    from ._codeact import CodeAct
    from ._embed import Embedder, make_embedder
    from ._embeddings_retriever import EmbeddingsRetriever
    from ._ensemble import Ensemble, majority
    from ._fallback import FallbackLM
    from ._guards import AuditRecord, Guard, add_audit_hook
    from ._history import History
    from ._knn import KNNDemos, KNNPool, PoolEntry, load_knn_pools, set_embedder
    from ._litellm import LiteLLMLM
    from ._lm_config import configure_lms
    from ._lm_factory import make_lm
    from ._local_embed import SentenceTransformerEmbedder
    from ._mcp import MCPClient, MCPTool
    from ._multi_chain import MultiChainComparison
    from ._openai import OpenAIChatLM
    from ._openai_embed import OpenAIEmbedder
    from ._otel import configure_tracing
    from ._parallel import Parallel
    from ._pricing import cost_of, price_of, set_prices
    from ._program_of_thought import ProgramOfThought
    from ._ratelimit import RateLimit, RateLimiter
    from ._react import ReAct
    from ._refine import Refine
    from ._retrieve import BM25, Passage, Retrieve, Retriever, load_passages
    from ._retry import RetryPolicy
    from ._sandbox import Sandbox, SandboxResult
    from ._stream import Done, Partial, StreamEvent
    from ._tool import Observation, Tool
    from ._usage import LMCallRecord, UsageReport, UsageSummary, track_usage

__version__ = "0.1.0"

# Loaded when first used: the HTTP backends import httpx (or litellm), and the rest is not
# needed by a program that only calls its predictors (import time and memory count for every
# emitted package: benchmarks/RESULTS.md). The call path finds out whether usage reports,
# guards, audit hooks or tracing are in use without importing them (_instrument).
_LAZY = {
    "CacheWarning": "._cache",
    "LMCache": "._cache",
    "AuditRecord": "._guards",
    "Guard": "._guards",
    "add_audit_hook": "._guards",
    "make_lm": "._lm_factory",
    "configure_tracing": "._otel",
    "LMCallRecord": "._usage",
    "UsageReport": "._usage",
    "UsageSummary": "._usage",
    "track_usage": "._usage",
    "Tool": "._tool",
    "Observation": "._tool",
    "ReAct": "._react",
    "Sandbox": "._sandbox",
    "SandboxResult": "._sandbox",
    "ProgramOfThought": "._program_of_thought",
    "CodeAct": "._codeact",
    "BestOfN": "._best_of_n",
    "Refine": "._refine",
    "MultiChainComparison": "._multi_chain",
    "Parallel": "._parallel",
    "Passage": "._retrieve",
    "Retriever": "._retrieve",
    "BM25": "._retrieve",
    "Retrieve": "._retrieve",
    "load_passages": "._retrieve",
    "EmbeddingsRetriever": "._embeddings_retriever",
    "MCPClient": "._mcp",
    "MCPTool": "._mcp",
    "OpenAIChatLM": "._openai",
    "LiteLLMLM": "._litellm",
    "BatchResult": "._batch",
    "Err": "._batch",
    "Ok": "._batch",
    "Outcome": "._batch",
    "abatch": "._batch",
    "batch": "._batch",
    "Blocking": "._blocking",
    "blocking": "._blocking",
    "BreakerPolicy": "._breaker",
    "CircuitBreaker": "._breaker",
    "FallbackLM": "._fallback",
    "History": "._history",
    "configure_lms": "._lm_config",
    "cost_of": "._pricing",
    "price_of": "._pricing",
    "set_prices": "._pricing",
    "RateLimit": "._ratelimit",
    "RateLimiter": "._ratelimit",
    "RetryPolicy": "._retry",
    "Done": "._stream",
    "Partial": "._stream",
    "StreamEvent": "._stream",
    "Embedder": "._embed",
    "make_embedder": "._embed",
    "OpenAIEmbedder": "._openai_embed",
    "SentenceTransformerEmbedder": "._local_embed",
    "KNNDemos": "._knn",
    "KNNPool": "._knn",
    "PoolEntry": "._knn",
    "load_knn_pools": "._knn",
    "set_embedder": "._knn",
    "Ensemble": "._ensemble",
    "majority": "._ensemble",
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
    "PredictorParams",
    "ProgramOfThought",
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
    "set_embedder",
    "set_prices",
    "spec_of",
    "trace",
    "track_usage",
]
