"""A local OpenAI-compatible HTTP server for tests.

``FakeOpenAI`` listens on 127.0.0.1 on a free port in a background thread and answers
``POST /v1/chat/completions`` (plus ``/v1/embeddings`` and ``GET /v1/models``) the way an
OpenAI-compatible endpoint does, so clients are exercised over real sockets without a real
model. Requests with ``"stream": true`` are answered with server-sent events, the reply cut
into ``stream_chunk_chars``-character deltas. Faults (rate limits, server errors, dropped
connections, slow or malformed answers, rejected ``response_format``, streams that break off
or carry a bad chunk) are queued with :meth:`FakeOpenAI.fail` and used up one per chat
request, in order::

    with FakeOpenAI(reply="hi") as server:
        server.fail(Fault.status(500))
        lm = OpenAIChatLM("m", base_url=server.base_url, backoff_base=0.001)
        ...
        assert len(server.chat_requests) == 2
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import select
import socket
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = str | Sequence[str] | Callable[[dict[str, Any]], str]
"""A fixed text, texts consumed in order, or a function of the request body."""

CHAT_PATH = "/v1/chat/completions"
EMBEDDINGS_PATH = "/v1/embeddings"
MODELS_PATH = "/v1/models"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (for "connection refused" tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Fault:
    """One misbehaviour, used up by the next chat request."""

    kind: str  # "none", "drop", "slow", "raw", "raw_stream", "broken_stream", "bad_chunk"...
    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    after_chunks: int = 0

    @classmethod
    def status_error(
        cls,
        status: int = 500,
        message: str = "internal error",
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """An OpenAI-style error body with ``status``."""
        body = json.dumps({"error": {"message": message, "type": "server_error"}}).encode()
        return cls("raw", status=status, body=body, headers=dict(headers or {}))

    @classmethod
    def rate_limit(cls, retry_after: str | float | None = "0") -> Fault:
        """A 429, with a ``Retry-After`` header unless ``retry_after`` is None."""
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        return cls.status_error(429, "Rate limit reached; slow down", headers)

    @classmethod
    def drop(cls) -> Fault:
        """Read the request, then close the socket without answering."""
        return cls("drop")

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """Answer normally, but only after ``seconds`` (to trigger client read timeouts)."""
        return cls("slow", delay=seconds)

    @classmethod
    def malformed(cls, body: bytes = b"<html>502 Bad Gateway</html>", status: int = 200) -> Fault:
        """Answer ``status`` with ``body`` verbatim (default: HTML where JSON belongs)."""
        return cls("raw", status=status, body=body)

    @classmethod
    def raw_stream(cls, body: bytes) -> Fault:
        """Answer with ``body`` verbatim as a complete ``text/event-stream`` (scripted SSE)."""
        return cls("raw_stream", body=body)

    @classmethod
    def none(cls) -> Fault:
        """No fault: answer normally (to spread faults out among good answers)."""
        return cls("none")

    @classmethod
    def broken_stream(cls, after_chunks: int = 1) -> Fault:
        """Stream ``after_chunks`` content chunks, then close the socket mid-answer (a
        non-streamed request gets a dropped connection)."""
        return cls("broken_stream", after_chunks=after_chunks)

    @classmethod
    def bad_chunk(cls, after_chunks: int = 1) -> Fault:
        """Stream ``after_chunks`` content chunks, then a ``data:`` line that is not JSON."""
        return cls("bad_chunk", after_chunks=after_chunks)

    @classmethod
    def stalled_stream(cls, after_chunks: int = 1) -> Fault:
        """Stream ``after_chunks`` content chunks, then send nothing more until the client
        closes the connection (recorded in :attr:`FakeOpenAI.disconnected`) or the server
        stops: a reply the client abandons midway."""
        return cls("stalled_stream", after_chunks=after_chunks)

    @classmethod
    def echo_auth(cls, status: int = 401) -> Fault:
        """An error quoting the request's credential headers back, as careless servers do."""
        return cls("echo_auth", status=status)

    @classmethod
    def reject_response_format(cls) -> Fault:
        """A 400 complaining about ``response_format``, as servers without JSON mode send."""
        return cls.status_error(
            400, "Unsupported parameter: 'response_format' is not supported with this model."
        )


_PARAM = {
    "json_schema": "response_format",
    "llama_cpp": "response_format",
    "vllm": "structured_outputs",
    "vllm_guided": "guided_json",
    "ollama": "format",
}


def _dialect(body: dict[str, Any]) -> str | None:
    """How a body asks for structured output, read the way each kind of server reads it."""
    for dialect, param in _PARAM.items():
        if param != "response_format" and param in body:
            return dialect
    response_format = body.get("response_format")
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_object" and "schema" in response_format:
        return "llama_cpp"
    return "json_schema" if kind == "json_schema" else None


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any  # the parsed JSON body, or None
    client_port: int  # tells apart pooled (reused) and fresh connections


class FakeOpenAI:
    """An OpenAI-compatible server on 127.0.0.1; use as a context manager.

    ``latency`` delays every chat answer; ``reject_response_format=True`` makes every request
    that carries ``response_format`` fail with 400, like an endpoint without JSON mode.
    ``dialects`` limits the structured-output dialects accepted; others fail with HTTP 500
    naming the parameter, as llama-cpp-python's server answers OpenAI's ``json_schema``.
    """

    def __init__(
        self,
        reply: Reply = "ok",
        *,
        latency: float = 0.0,
        reject_response_format: bool = False,
        finish_reason: str = "stop",
        embedding_dim: int = 8,
        stream_chunk_chars: int = 4,
        dialects: frozenset[str] | None = None,
    ) -> None:
        self.latency = latency
        self.dialects = dialects
        self.stream_chunk_chars = stream_chunk_chars
        self.reject_response_format = reject_response_format
        self.finish_reason = finish_reason
        self.embedding_dim = embedding_dim
        self._reply = reply
        self._queued_replies: deque[str] | None = None
        if not isinstance(reply, str) and not callable(reply):
            self._queued_replies = deque(reply)
        self._faults: deque[Fault] = deque()
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        # Set when a client closes a stalled stream (Fault.stalled_stream) from its end.
        self.disconnected = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> FakeOpenAI:
        self._server = _Server(("127.0.0.1", 0), _Handler, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a slow fault
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- what tests use --------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._server is not None, "FakeOpenAI is not running; use it in a with block"
        port: int = self._server.server_address[1]
        return port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{CHAT_PATH}"

    def fail(self, *faults: Fault) -> None:
        """Queue faults; each chat request uses up the oldest one."""
        with self._lock:
            self._faults.extend(faults)

    def clear_faults(self) -> None:
        """Drop the queued faults that no request used up."""
        with self._lock:
            self._faults.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == CHAT_PATH]

    # -- serving (called from handler threads) ---------------------------------------------
    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _next_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _chat(self, handler: _Handler, body: Any) -> None:
        fault = self._next_fault()
        self._sleep(self.latency)
        streaming = isinstance(body, dict) and body.get("stream") is True
        if fault is not None and (
            fault.kind == "drop" or (fault.kind == "broken_stream" and not streaming)
        ):
            handler.drop_connection()
            return
        if fault is not None and fault.kind == "raw":
            handler.send(fault.status, fault.body, fault.headers)
            return
        if fault is not None and fault.kind == "raw_stream":
            handler.send_events([fault.body] if fault.body else [], complete=True)
            return
        if fault is not None and fault.kind == "echo_auth":
            said = [
                f"{n}: {handler.headers.get(n)}" for n in ("Authorization", "Proxy-Authorization")
            ]
            handler.send_json(fault.status, _error(f"Incorrect credentials: {'; '.join(said)}"))
            return
        if fault is not None and fault.kind == "slow":
            self._sleep(fault.delay)
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            handler.send_json(400, _error("the body must be a JSON object with 'messages'"))
            return
        if self.reject_response_format and "response_format" in body:
            rejection = Fault.reject_response_format()
            handler.send(rejection.status, rejection.body, rejection.headers)
            return
        dialect = _dialect(body)
        if self.dialects is not None and dialect is not None and dialect not in self.dialects:
            handler.send_json(500, _error(f"1 validation error: ('body', {_PARAM[dialect]!r})"))
            return
        try:
            text = self._reply_text(body)
        except Exception as exc:  # a test's reply function failed: say so, do not retry
            handler.send_json(400, _error(f"FakeOpenAI reply failed: {exc!r}"))
            return
        if streaming:
            self._stream(handler, body, text, fault)
        else:
            handler.send_json(200, self._completion(body, text))

    def _stream(
        self, handler: _Handler, body: dict[str, Any], text: str, fault: Fault | None
    ) -> None:
        events = self._stream_events(body, text)
        if fault is not None and fault.kind == "stalled_stream":
            handler.send_events(events[: fault.after_chunks + 1], complete=None)
            if handler.wait_for_close(self._stopping):
                self.disconnected.set()
            return
        if fault is not None and fault.kind in ("broken_stream", "bad_chunk"):
            events = events[: fault.after_chunks + 1]  # the role chunk, then content chunks
            if fault.kind == "bad_chunk":
                events.append(b'data: {"choices": [{"delta": {"content": "x"\n\n')
            handler.send_events(events, complete=fault.kind == "bad_chunk")
            return
        handler.send_events(events, complete=True)

    def _stream_events(self, body: dict[str, Any], text: str) -> list[bytes]:
        """``data:`` events: a role chunk, the text in pieces, the finish, usage, [DONE]."""
        whole = self._completion(body, text)
        base = {k: whole[k] for k in ("id", "created", "model")} | {
            "object": "chat.completion.chunk"
        }
        step = max(1, self.stream_chunk_chars)
        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
        deltas += [{"content": text[i : i + step]} for i in range(0, len(text), step)]
        chunks = [
            base | {"choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas
        ]
        finish = {"index": 0, "delta": {}, "finish_reason": self.finish_reason}
        chunks.append(base | {"choices": [finish]})
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            chunks.append(base | {"choices": [], "usage": whole["usage"]})
        events = [b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks]
        return [*events, b"data: [DONE]\n\n"]

    def _reply_text(self, body: dict[str, Any]) -> str:
        if isinstance(self._reply, str):
            return self._reply
        if self._queued_replies is None:
            assert callable(self._reply)
            return self._reply(body)
        with self._lock:
            if not self._queued_replies:
                raise LookupError("no replies left")
            return self._queued_replies.popleft()

    def _completion(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
        completion_tokens = len(text.split())
        with self._lock:
            number = len(self._requests)
        return {
            "id": f"chatcmpl-fake-{number}",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model", "fake"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": self.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def _embeddings(self, handler: _Handler, body: Any) -> None:
        raw = body.get("input") if isinstance(body, dict) else None
        texts = [raw] if isinstance(raw, str) else raw
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            handler.send_json(400, _error("'input' must be a string or a list of strings"))
            return
        data = [
            {"object": "embedding", "index": i, "embedding": embedding(t, self.embedding_dim)}
            for i, t in enumerate(texts)
        ]
        tokens = sum(len(t.split()) for t in texts)
        handler.send_json(
            200,
            {
                "object": "list",
                "data": data,
                "model": body.get("model", "fake-embedding"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )


def embedding(text: str, dim: int = 8) -> list[float]:
    """A deterministic unit-free vector in [-1, 1] derived from the text's hash."""
    digest = b""
    counter = 0
    while len(digest) < dim:
        digest += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    return [round(b / 127.5 - 1.0, 6) for b in digest[:dim]]


def _error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error"}}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 refuses (resets) most of a burst of concurrent
    # connections; real servers accept hundreds.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], handler: type[_Handler], fake: FakeOpenAI):
        self.fake = fake
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out close their end mid-answer; that is expected, not noise.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so client connection pooling is exercised
    # Headers and body go out in separate writes; with Nagle's algorithm on, the body would
    # wait for the client's delayed ACK (~40 ms) on every pooled request.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self._read_body()
        fake = self.server.fake
        if self.path == CHAT_PATH:
            fake._chat(self, body)
        elif self.path == EMBEDDINGS_PATH:
            fake._embeddings(self, body)
        else:
            self.send_json(404, _error(f"no route {self.path}"))

    def do_GET(self) -> None:
        self._read_body()
        if self.path == MODELS_PATH:
            self.send_json(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})
        else:
            self.send_json(404, _error(f"no route {self.path}"))

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self.server.fake._record(
            RecordedRequest(
                method=self.command,
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                client_port=self.client_address[1],
            )
        )
        return body

    def send(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        headers = headers or {}
        if not any(name.lower() == "content-type" for name in headers):  # one, as servers send
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status: int, payload: Any) -> None:
        self.send(status, json.dumps(payload).encode())

    def send_events(self, events: Sequence[bytes], *, complete: bool | None) -> None:
        """Server-sent events, one HTTP chunk each; ``complete=False`` cuts the connection
        instead of ending the body (a stream that breaks off), ``None`` leaves it open."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for event in events:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                self.wfile.flush()
            if complete:
                self.wfile.write(b"0\r\n\r\n")
                return
        except OSError:  # the client went away first
            self.close_connection = True
            return
        if complete is False:
            self.drop_connection()

    def wait_for_close(self, stopping: threading.Event) -> bool:
        """Block until the client closes its end (True) or ``stopping`` is set (False)."""
        self.close_connection = True
        while not stopping.is_set():
            readable, _, _ = select.select([self.connection], [], [], 0.05)
            if readable:
                try:
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        return True
                except OSError:
                    return True
                stopping.wait(0.05)  # a pipelined request: not a close
        return False

    def drop_connection(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):  # the client may already be gone
            self.connection.shutdown(socket.SHUT_RDWR)
