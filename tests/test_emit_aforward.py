"""The async twin the compiler writes into program.py: golden files, typing, behaviour.

Set ``CASTLM_UPDATE_GOLDEN=1`` to rewrite tests/golden/twins/*.expected after an intended
change, then review the diff.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import castlm as cl
import pytest
from castlm.compiler.analyze import analyze_file
from castlm.compiler.emit.aforward import with_async_twins
from castlm.testing import StandInLM

GOLDEN = Path(__file__).parent / "golden" / "twins"
CASES = sorted(GOLDEN.glob("*.py"))


def _twins(case: Path) -> str:
    return with_async_twins(case.read_bytes(), analyze_file(case)).decode("utf-8")


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_golden_twins(case: Path) -> None:
    actual = _twins(case)
    expected = case.with_suffix(".expected")
    if os.environ.get("CASTLM_UPDATE_GOLDEN") == "1":
        expected.write_text(actual, encoding="utf-8")
    assert actual == expected.read_text(encoding="utf-8")


def test_the_twins_type_check_strictly(tmp_path: Path) -> None:
    program = tmp_path / "features_twins.py"
    program.write_text(_twins(GOLDEN / "features.py"), encoding="utf-8")
    mypy = [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(program)]
    done = subprocess.run(mypy, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def _load(tmp_path: Path) -> types.ModuleType:
    module = types.ModuleType("features_twins")
    module.__file__ = str(tmp_path / "features_twins.py")
    Path(module.__file__).write_text(_twins(GOLDEN / "features.py"), encoding="utf-8")
    sys.modules[module.__name__] = module  # dataclass-like machinery looks classes up here
    try:
        code = compile(Path(module.__file__).read_text(encoding="utf-8"), module.__file__, "exec")
        exec(code, module.__dict__)
    finally:
        del sys.modules[module.__name__]
    return module


async def _no_thread(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the twin used a thread")


class Recording(StandInLM):
    def __init__(self) -> None:
        super().__init__()
        self.prompts: list[Any] = []

    def _send(self, request: cl.LMRequest) -> cl.LMResponse:
        self.prompts.append(request.messages)
        return super()._send(request)

    async def _asend(self, request: cl.LMRequest) -> cl.LMResponse:
        return self._send(request)  # on the event loop: a thread would fail the test


@pytest.mark.parametrize("name", ["Features", "Derived", "Unsafe", "Written"])
def test_each_twin_sends_the_prompts_forward_sends(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if name != "Unsafe":  # only the CL401 twin may use a thread
        monkeypatch.setattr(asyncio, "to_thread", _no_thread)
    program = getattr(_load(tmp_path), name)()
    calls = ("why?", "a", "b") if name != "Written" else ("why?",)
    extra = {"depth": 1, "tag": "x"} if name != "Written" else {}
    sync_lm, async_lm = Recording(), Recording()
    program.set_lm(sync_lm)
    expected = program(*calls, **extra)
    program.set_lm(async_lm)
    got = asyncio.run(program.acall(*calls, **extra))
    assert got == expected
    assert async_lm.prompts == sync_lm.prompts
    assert len(sync_lm.prompts) >= 1
