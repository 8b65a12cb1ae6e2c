"""A local OpenAI-compatible fine-tuning API for tests.

``FakeFineTune`` listens on 127.0.0.1 and answers ``POST /v1/files`` (multipart, ``purpose``
must be ``fine-tune``), ``POST /v1/fine_tuning/jobs`` and ``GET /v1/fine_tuning/jobs/{id}``.
A job moves one step per poll (``validating_files``, ``queued``, ``running``, ...) and ends
in ``outcome`` after ``polls`` polls; a succeeded job names a model, and :attr:`trained`
maps that model to the training records it was given, so a test double can answer "as the
fine-tuned model"::

    with FakeFineTune(polls=2) as server:
        ... compile with base_url=server.base_url ...
        model, records = next(iter(server.trained.items()))

Faults (HTTP errors, by status) are queued with :meth:`fail` and used up one per request.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from support.fake_openai import RecordedRequest

_STEPS = ("validating_files", "queued", "running")
_JOB = re.compile(r"^/v1/fine_tuning/jobs/([\w-]+)$")


class FakeFineTune:
    """A fine-tuning API on 127.0.0.1; use as a context manager."""

    def __init__(
        self, *, polls: int = 3, outcome: str = "succeeded", error: str = "invalid training data"
    ) -> None:
        self.polls = polls
        self.outcome = outcome
        self.error = error
        self.files: dict[str, bytes] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.trained: dict[str, list[dict[str, Any]]] = {}
        self._polled: dict[str, int] = {}
        self._faults: deque[int] = deque()
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> FakeFineTune:
        self._server = _Server(("127.0.0.1", 0), _Handler, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        assert self._server is not None, "use FakeFineTune in a with block"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def fail(self, *statuses: int) -> None:
        """Answer the next requests with these HTTP statuses (OpenAI-style error bodies)."""
        with self._lock:
            self._faults.extend(statuses)

    # -- serving (handler threads) ---------------------------------------------------------
    def _fault(self) -> int | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _upload(self, fields: dict[str, tuple[str | None, bytes]]) -> tuple[int, Any]:
        purpose = fields.get("purpose", (None, b""))[1].decode()
        if purpose != "fine-tune" or "file" not in fields:
            return 400, _error("a fine-tune upload needs purpose=fine-tune and a file")
        name, content = fields["file"]
        for number, line in enumerate(content.decode("utf-8").splitlines(), 1):
            record = json.loads(line)
            if not isinstance(record.get("messages"), list):
                return 400, _error(f"line {number} has no messages")
        with self._lock:
            file_id = f"file-{len(self.files) + 1}"
            self.files[file_id] = content
        return 200, {"id": file_id, "object": "file", "purpose": purpose, "filename": name}

    def _create(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or body.get("training_file") not in self.files:
            return 404, _error("no such training_file")
        with self._lock:
            job_id = f"ftjob-{len(self.jobs) + 1}"
            job = {
                "id": job_id,
                "object": "fine_tuning.job",
                "model": body.get("model"),
                "training_file": body["training_file"],
                "suffix": body.get("suffix"),
                "hyperparameters": body.get("hyperparameters", {}),
                "status": _STEPS[0],
                "fine_tuned_model": None,
                "error": None,
            }
            self.jobs[job_id] = job
            self._polled[job_id] = 0
        return 200, dict(job)

    def _poll(self, job_id: str) -> tuple[int, Any]:
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None:
                return 404, _error(f"no job {job_id}")
            self._polled[job_id] += 1
            polled = self._polled[job_id]
            if polled < self.polls:
                job["status"] = _STEPS[min(polled, len(_STEPS) - 1)]
            elif job["status"] in _STEPS:
                self._finish(job)
            return 200, dict(job)

    def _finish(self, job: dict[str, Any]) -> None:
        job["status"] = self.outcome
        if self.outcome == "succeeded":
            model = f"ft:{job['model']}:castlm:{job['suffix'] or 'x'}:{job['id']}"
            job["fine_tuned_model"] = model
            job["trained_tokens"] = len(self.files[job["training_file"]]) // 4
            lines = self.files[job["training_file"]].decode("utf-8").splitlines()
            self.trained[model] = [json.loads(line) for line in lines]
        elif self.outcome == "failed":
            job["error"] = {"code": "invalid_file", "message": self.error, "param": None}


def _error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error"}}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[_Handler], fake: FakeFineTune
    ) -> None:
        self.fake = fake
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        raw = self._read()
        fake = self.server.fake
        if (status := fake._fault()) is not None:
            self._send(status, _error(f"fault {status}"))
        elif self.path == "/v1/files":
            self._send(*fake._upload(self._multipart(raw)))
        elif self.path == "/v1/fine_tuning/jobs":
            self._send(*fake._create(json.loads(raw or b"null")))
        else:
            self._send(404, _error(f"no route {self.path}"))

    def do_GET(self) -> None:
        self._read()
        fake = self.server.fake
        match = _JOB.match(self.path)
        if (status := fake._fault()) is not None:
            self._send(status, _error(f"fault {status}"))
        elif match:
            self._send(*fake._poll(match.group(1)))
        else:
            self._send(404, _error(f"no route {self.path}"))

    def _read(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw and raw[:1] in b"{[" else None
        except ValueError:
            body = None
        record = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            client_port=self.client_address[1],
        )
        with self.server.fake._lock:
            self.server.fake._requests.append(record)
        return raw

    def _multipart(self, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
        head = f"Content-Type: {self.headers.get('Content-Type', '')}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + raw)
        fields: dict[str, tuple[str | None, bytes]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(payload, bytes):
                fields[name] = (part.get_filename(), payload)
        return fields

    def _send(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
