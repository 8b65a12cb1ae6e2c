"""Every example compiled for an OpenAI-compatible endpoint, as users compile: a package that
vendors no stand-in, verified (mypy --strict, pyright strict, dev-set parity).

The examples' own configs compile with the offline stand-in, whose package vendors
``testing/``. A package for a real endpoint leaves it out, and code that names the stand-in
must still type-check there: ``make_lm("standin")`` once gave pyright strict an Unknown type
in every such package, which only a compile like these shows. The endpoint is FakeOpenAI on
127.0.0.1, answering with the stand-in's replies, without native function calling (so the
agent takes ReAct's text protocol, as against a server without tools). Then triage's package
runs, to show that it vendors nothing its entry points and documented settings never import.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
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


@pytest.fixture(scope="module")
def compiled(endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Compiles an example for the endpoint once; returns its package folder."""
    done: dict[str, Path] = {}

    def compile_example(name: str) -> Path:
        if name not in done:
            done[name] = _compile(name, endpoint, tmp_path_factory.mktemp(name))
        return done[name]

    return compile_example


def _env(endpoint: str) -> dict[str, str]:
    env = {
        **os.environ,
        "CASTLM_API_KEY": "sk-test",
        "CASTLM_BASE_URL": endpoint,  # the KNN example's embedder too
        "CASTLM_VERIFY_PYRIGHT": "1",
    }
    env.pop("CASTLM_MODEL", None)
    return env


def _compile(name: str, endpoint: str, out: Path) -> Path:
    assert CASTLM is not None
    command = [CASTLM, "compile", str(EXAMPLES / name), "--lm", "openai/standin-over-http"]
    proc = subprocess.run(
        [*command, "--no-cache", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env=_env(endpoint),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "(verified)" in proc.stdout
    (package,) = [p.parent for p in out.glob("*/manifest.json")]
    return package


@pytest.mark.skipif(PYRIGHT is None, reason="pyright is not installed (.[dev])")
@pytest.mark.parametrize("name", NAMES)
def test_an_example_compiled_for_an_endpoint_verifies_without_the_standin(
    name: str, compiled: Callable[[str], Path]
) -> None:
    package = compiled(name)
    runtime = package / "_runtime"
    assert not (runtime / "testing").exists()
    vendored = [p for p in runtime.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    manifest = json.loads((package / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["runtime"]["files"] == len(vendored)
    assert manifest["runtime"]["bytes"] == sum(p.stat().st_size for p in vendored)
    assert "testing" not in manifest["runtime"]["layers"]


# Runs in the package's folder, in a process of its own: the entry points as documented, then
# an LM built with the package's own reliability classes. Prints the runtime modules imported.
USE_EVERYTHING = """
import asyncio, json, sys
import triage_bot as pkg

ticket = {"ticket": "The app crashes when I log in; I am on the pro plan"}

async def collect():
    return [event async for event in pkg.astream(**ticket)]

def loaded():
    return sorted(m for m in sys.modules if m.startswith("triage_bot._runtime"))

pkg.run(**ticket)
asyncio.run(pkg.arun(**ticket))
list(pkg.stream(**ticket))
asyncio.run(collect())
program = pkg.load()
program.batch([ticket, ticket])
asyncio.run(program.abatch([ticket]))
with pkg.track_usage() as usage:
    pkg.run(**ticket)
assert usage.total.calls == 1 and usage.total.unpriced_models, usage  # no price: unknown
by_default = loaded()
lm = pkg.OpenAIChatLM(
    "gpt-4o-mini",
    retry=pkg.RetryPolicy(max_retries=1),
    breaker=pkg.BreakerPolicy(failure_threshold=3),
    rate_limit=pkg.RateLimit(requests_per_minute=6000),
    cache=pkg.LMCache(sys.argv[1]),
)
result = pkg.load(lm)(**ticket)
assert isinstance(result, pkg.Triage), result
print(json.dumps({"by_default": by_default, "configured": loaded()}))
"""


def test_every_module_an_endpoint_package_vendors_is_one_it_runs(
    compiled: Callable[[str], Path], endpoint: str, tmp_path: Path
) -> None:
    """ "Only what it uses", checked by running it: the documented entry points import every
    vendored module but the breaker and the rate limiter, which an LM configured with the
    package's own classes imports; no vendored module is left that nothing reaches."""
    package = compiled("triage")
    runtime = package / "_runtime"
    vendored = {
        ".".join(("triage_bot", *p.relative_to(package).with_suffix("").parts)).removesuffix(
            ".__init__"
        )
        for p in runtime.rglob("*.py")
    }
    proc = subprocess.run(
        [sys.executable, "-c", USE_EVERYTHING, str(tmp_path / "replies.sqlite")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=package.parent,
        env={**_env(endpoint), "PYTHONPATH": str(package.parent)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    imported = json.loads(proc.stdout.strip().splitlines()[-1])
    reached_by_settings = {
        f"triage_bot._runtime.lm.{m}" for m in ("_breaker", "_gate", "_ratelimit")
    }
    assert vendored - set(imported["by_default"]) == reached_by_settings
    assert vendored - set(imported["configured"]) == set()
