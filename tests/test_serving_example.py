"""examples/serving: the FastAPI service around the compiled triage package, started with
uvicorn as a process on 127.0.0.1 and called over HTTP (the stand-in LM answers offline)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from castlm import PredictorParams, spec_of
from castlm.compiler.analyze import analyze_file
from castlm.compiler.emit import EmitRequest, render_package, write_package
from support.fake_openai import free_port
from test_emit_support import imported

ROOT = Path(__file__).parent.parent
TRIAGE = ROOT / "examples" / "triage" / "program.py"
SERVING = ROOT / "examples" / "serving"
PACKAGE = "triage_bot"
STARTUP_LIMIT_S = 60.0  # a bound on waiting for the server, not an assertion on speed


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The triage package, emitted as ``castlm compile`` writes it (frozen parameters)."""
    out = tmp_path_factory.mktemp("serving") / "build"
    request = EmitRequest(
        program_path=TRIAGE,
        module_class="TriageBot",
        package=PACKAGE,
        params={"triage": PredictorParams("Triage the ticket.")},
        lm_name="standin",
        manifest={"castlm_version": "0.1.0", "lm_name": "standin"},
        ir=analyze_file(TRIAGE),
        local_modules=(),
        lm_settings={"structured_output": "off"},
    )
    write_package(render_package(request), out)
    return out


def _env(built: Path) -> dict[str, str]:
    path = os.pathsep.join([str(built), str(SERVING)])
    return {**os.environ, "PYTHONPATH": path, "CASTLM_MODEL": "standin"}


@pytest.fixture(scope="module")
def server(built: Path) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(port)],
        env=_env(built),
        cwd=built,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_LIMIT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise AssertionError(f"the service exited at startup:\n{output}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the service did not come up")


def test_healthz(server: str) -> None:
    answer = httpx.get(f"{server}/healthz")
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}


def test_predict_returns_the_typed_outputs(server: str) -> None:
    answer = httpx.post(f"{server}/predict", json={"ticket": "I was charged twice!"}, timeout=30)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"category", "urgent", "customer"}
    assert body["category"] in {"billing", "bug", "account", "feature_request", "other"}
    assert isinstance(body["urgent"], bool)
    assert body["customer"]["plan"] in {"free", "pro", "enterprise"}


def test_predict_rejects_a_bad_request(server: str) -> None:
    assert httpx.post(f"{server}/predict", json={"ticket": ""}).status_code == 422
    assert httpx.post(f"{server}/predict", json={"tikcet": "x"}).status_code == 422


def test_batch_answers_each_ticket_in_order(server: str) -> None:
    tickets = [{"ticket": t} for t in ("app crashes", "add dark mode", "reset my password")]
    answer = httpx.post(f"{server}/batch", json={"tickets": tickets}, timeout=60)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert len(results) == 3
    assert all(r["error"] is None and r["result"]["category"] for r in results)
    too_many = {"tickets": [{"ticket": "x"}] * 65}
    assert httpx.post(f"{server}/batch", json=too_many).status_code == 422


def test_a_service_without_an_lm_setting_fails_at_startup(built: Path) -> None:
    env = {k: v for k, v in _env(built).items() if k != "CASTLM_MODEL"}
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=built,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "CASTLM_MODEL" in done.stderr


def test_the_http_models_match_the_signature(built: Path) -> None:
    sys.path.insert(0, str(SERVING))
    try:
        with imported(built, PACKAGE) as package:
            import app

            outputs = {f.name: f.annotation for f in spec_of(package.Triage).outputs}
            fields = app.TriageOut.model_fields
            assert {n: f.annotation for n, f in fields.items()} == outputs
            inputs: dict[str, Any] = {f.name: f.annotation for f in spec_of(package.Triage).inputs}
            assert {n: f.annotation for n, f in app.TicketIn.model_fields.items()} == inputs
    finally:
        sys.path.remove(str(SERVING))
        sys.modules.pop("app", None)


def test_the_example_is_mypy_strict_clean(built: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(SERVING / "app.py")],
        env={**os.environ, "MYPYPATH": str(built)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
