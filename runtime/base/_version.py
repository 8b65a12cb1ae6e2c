"""castlm's version, in the bottom layer so that any layer may name it (the HTTP client's
User-Agent, the tracer's instrumentation version) without importing the package root."""

__version__ = "0.1.0"
