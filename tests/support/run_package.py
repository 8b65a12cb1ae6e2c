"""Runs an emitted package where castlm cannot be imported, and prints what happened as JSON.

Usage (through ``castlm.compiler.verify.castlm_free_command``)::

    run_package.py PACKAGE INPUTS_JSON

For each input: the program from ``load(lm)`` with an LM that records its requests (the
package's own vendored stand-in), then ``run()`` and ``arun()`` on the shared program
(``$CASTLM_MODEL`` should be ``standin``). Imports nothing but the standard library and the
package.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from typing import Any


def main(package_name: str, inputs: list[dict[str, Any]]) -> dict[str, Any]:
    package = importlib.import_module(package_name)
    testing = importlib.import_module(f"{package_name}._runtime.testing")
    blocked = [name for name in sys.modules if name == "castlm" or name.startswith("castlm.")]

    class Recording(testing.StandInLM):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.requests: list[Any] = []

        def _send(self, request: Any) -> Any:
            self.requests.append(request)
            return super()._send(request)

    lm = Recording()
    program = package.load(lm)
    loaded = [program(**i).model_dump(mode="json") for i in inputs]
    ran = [package.run(**i).model_dump(mode="json") for i in inputs]
    awaited = [asyncio.run(package.arun(**i)).model_dump(mode="json") for i in inputs]
    return {
        "castlm_modules": blocked,
        "type": type(program).__name__,
        "loaded": loaded,
        "run": ran,
        "arun": awaited,
        "models": [r.model for r in lm.requests],
        "messages": [[dict(m) for m in r.messages] for r in lm.requests],
    }


if __name__ == "__main__":
    result = main(sys.argv[1], json.loads(sys.argv[2]))
    print(json.dumps(result))
