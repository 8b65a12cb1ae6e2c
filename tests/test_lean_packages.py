"""Every example compiled for an OpenAI-compatible endpoint, as users compile: a package that
vendors no stand-in, verified (mypy --strict, pyright strict, dev-set parity).

The examples' own configs compile with the offline stand-in, whose package vendors
``testing/``. A package for a real endpoint leaves it out, and code that names the stand-in
must still type-check there: ``make_lm("standin")`` once gave pyright strict an Unknown type
in every such package, which only a compile like these shows. The endpoint is FakeOpenAI on
127.0.0.1, answering with the stand-in's replies, without native function calling (so the
agent takes ReAct's text protocol, as against a server without tools).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from castlm.lm._lm import LMRequest
from castlm.testing import StandInLM
from support.fake_openai import FakeOpenAI

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CASTLM = shutil.which("castlm", path=str(Path(sys.executable).parent))
PYRIGHT = shutil.which("pyright", path=str(Path(sys.executable).parent))
NAMES = sorted(p.parent.name for p in EXAMPLES.glob("*/castlm.toml"))


def _standin_reply(standin: StandInLM, body: dict[str, Any]) -> str:
    if body.get("tools"):  # FakeOpenAI answers 400 with this message
        raise ValueError("this endpoint does not support tools")
    messages = tuple(body["messages"])
    request = LMRequest("standin", messages, response_format=body.get("response_format"))
    return standin.complete(request).text


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    standin = StandInLM()
    with FakeOpenAI(lambda body: _standin_reply(standin, body)) as server:
        yield server.base_url


@pytest.mark.skipif(PYRIGHT is None, reason="pyright is not installed (.[dev])")
@pytest.mark.parametrize("name", NAMES)
def test_an_example_compiled_for_an_endpoint_verifies_without_the_standin(
    name: str, endpoint: str, tmp_path: Path
) -> None:
    assert CASTLM is not None
    env = {
        **os.environ,
        "CASTLM_API_KEY": "sk-test",
        "CASTLM_BASE_URL": endpoint,  # the KNN example's embedder too
        "CASTLM_VERIFY_PYRIGHT": "1",
    }
    env.pop("CASTLM_MODEL", None)
    command = [CASTLM, "compile", str(EXAMPLES / name), "--lm", "openai/standin-over-http"]
    proc = subprocess.run(
        [*command, "--no-cache", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "(verified)" in proc.stdout
    (package,) = [p.parent for p in (tmp_path / "out").glob("*/manifest.json")]
    runtime = package / "_runtime"
    assert not (runtime / "testing").exists()
    vendored = [p for p in runtime.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    manifest = json.loads((package / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["runtime"]["files"] == len(vendored)
    assert manifest["runtime"]["bytes"] == sum(p.stat().st_size for p in vendored)
    assert "testing" not in manifest["runtime"]["layers"]
