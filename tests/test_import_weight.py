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
