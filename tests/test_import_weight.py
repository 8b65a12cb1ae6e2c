"""`import castlm` (and so every emitted package) stays free of heavy modules it only needs
when called: each of these cost milliseconds or MiB at import (benchmarks/RESULTS.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

# asyncio loads ssl (~20 ms, ~3 MiB); sqlite3 a 1 MiB library; httpx its whole client stack.
DEFERRED = (
    "asyncio",
    "sqlite3",
    "concurrent.futures",
    "difflib",
    "httpx",
    "aiohttp",
    "pydantic.type_adapter",
)


def test_import_castlm_defers_heavy_modules() -> None:
    code = (
        "import json, sys\nimport castlm\n"
        f"print(json.dumps([m for m in {DEFERRED!r} if m in sys.modules]))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert json.loads(out.stdout) == []


# Call-time runtime modules: the observers load on first use (a usage report, a guard, an
# audit hook or a tracer), the cache and the LM factory when asked for.
CALL_TIME = ("_cache", "_guards", "_otel", "_usage", "_lm_factory")


def test_import_castlm_defers_call_time_runtime_modules() -> None:
    code = (
        "import json, sys\nimport castlm\n"
        f"print(json.dumps([m for m in {CALL_TIME!r} if 'castlm.' + m in sys.modules]))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert json.loads(out.stdout) == []


def test_a_call_without_observers_loads_none_and_public_names_still_resolve() -> None:
    code = (
        "import json, sys\nimport castlm\nfrom castlm.testing import ScriptedLM\n"
        "class S(castlm.Signature):\n    q: str = castlm.InputField()\n"
        "    a: str = castlm.OutputField()\n"
        "castlm.Predict(S, lm=ScriptedLM(['[[ ## a ## ]]\\nyes']))(q='x')\n"
        "before = sorted(m for m in ('_guards', '_usage') if 'castlm.' + m in sys.modules)\n"
        "names = [castlm.Guard, castlm.track_usage, castlm.LMCache, castlm.make_lm,\n"
        "         castlm.configure_tracing, castlm.AuditRecord, castlm.UsageReport]\n"
        "print(json.dumps(before))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert json.loads(out.stdout) == []
