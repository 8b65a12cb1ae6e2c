"""The emitted package's requirements, pinned like castlm's own so the two never drift."""

from __future__ import annotations

import re
from importlib import metadata

# Used only when castlm's metadata is unavailable (e.g. running from a source checkout).
_FALLBACK = {
    "pydantic": "pydantic>=2.7,<3",
    "httpx": "httpx>=0.27,<1",
    "aiohttp": "aiohttp>=3.9,<4",
    "litellm": "litellm>=1.40",
}
# Only what production needs: httpx for sync calls, aiohttp for async ones (httpcore's async
# pool cost a millisecond of CPU per request at high concurrency; see runtime/lm/_aio_client.py).
RUNTIME = ("pydantic", "httpx", "aiohttp")
LITELLM = ("litellm",)


def requirement(name: str) -> str:
    """castlm's requirement on ``name``, without its environment marker."""
    try:
        declared = metadata.requires("castlm") or []
    except metadata.PackageNotFoundError:
        declared = []
    pattern = re.compile(rf"{re.escape(name)}(?![\w.-])", re.IGNORECASE)
    for line in declared:
        spec = line.split(";", 1)[0].strip()
        if pattern.match(spec):
            return spec
    return _FALLBACK[name]


def runtime_requirements() -> list[str]:
    return [requirement(name) for name in RUNTIME]


def litellm_requirements() -> list[str]:
    return [requirement(name) for name in LITELLM]
