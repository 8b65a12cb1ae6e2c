"""A small MCP server for tests, over stdio (run this file) or streamable HTTP (MCPHTTPServer).

It speaks the JSON-RPC methods castlm's client uses (``initialize``,
``notifications/initialized``, ``tools/list`` with pagination, ``tools/call``) and does what
real servers do that a client must cope with: a log notification before a result, a ``ping``
request to the client in the middle of ``tools/list``, log lines on stderr, and, over HTTP,
session ids and answers as JSON or as a server-sent event stream.

Every message it sends is valid for the official SDK's types (tests/test_mcp_sdk.py checks).
It answers ``initialize`` with the revision asked for when it speaks it, else its newest; a
forced answer (``$MCP_TEST_PROTOCOL_VERSION``, or ``MCPHTTPServer(protocol_version=...)``)
plays a server of another revision.

Tools: ``add(a, b)``, ``echo(text)``, ``fail()`` (an ``isError`` result) and
``weather.get(city)`` (a name models cannot call as is).
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOOLS: list[dict[str, Any]] = [
    {
        "name": "add",
        "description": "Add two integers.",
        "inputSchema": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
            "additionalProperties": False,
        },
    },
    {
        "name": "echo",
        "description": "Repeat a text.",
        "inputSchema": {
            "type": "object",
            "properties": {"text": {"type": "string", "description": "what to repeat"}},
            "required": ["text"],
        },
    },
    {"name": "fail", "description": "Always fails.", "inputSchema": {"type": "object"}},
    {
        "name": "weather.get",
        "description": "Today's weather in a city.",
        "inputSchema": {
            "type": "object",
            "properties": {"city": {"type": "string", "enum": ["Oslo", "Lima"]}},
            "required": ["city"],
        },
    },
]


VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18")
LOG_NOTIFICATION: dict[str, Any] = {
    "jsonrpc": "2.0",
    "method": "notifications/message",
    "params": {"level": "info", "logger": "castlm-test-server", "data": "working on it"},
}
PING: dict[str, Any] = {"jsonrpc": "2.0", "id": "server-ping", "method": "ping"}


def call_tool(name: str, args: dict[str, Any]) -> dict[str, Any]:
    if name == "add":
        return _text(str(int(args["a"]) + int(args["b"])))
    if name == "echo":
        return _text(str(args["text"]))
    if name == "fail":
        return {**_text("it failed on purpose"), "isError": True}
    if name == "weather.get":
        return _text({"Oslo": "snow, -3 C", "Lima": "sunny, 24 C"}[args["city"]])
    raise KeyError(name)


def _text(text: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}]}


def answer(
    message: dict[str, Any], log: Callable[[str], None], version: str | None = None
) -> dict[str, Any] | None:
    """The response to one client message (None for notifications); ``version`` forces the
    protocol revision ``initialize`` answers with."""
    method = message.get("method")
    log(str(method))
    if "id" not in message:
        return None
    ident = message["id"]
    params = message.get("params") or {}
    if method == "initialize":
        asked = params.get("protocolVersion")
        result: dict[str, Any] = {
            "protocolVersion": version or (asked if asked in VERSIONS else VERSIONS[-1]),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "castlm-test-server", "version": "1.0"},
        }
    elif method == "tools/list":
        start = int(params.get("cursor") or 0)
        result = {"tools": TOOLS[start : start + 2]}
        if start + 2 < len(TOOLS):
            result["nextCursor"] = str(start + 2)
    elif method == "tools/call":
        try:
            result = call_tool(str(params.get("name")), dict(params.get("arguments") or {}))
        except KeyError as exc:
            error = {"code": -32602, "message": f"unknown tool {exc}"}
            return {"jsonrpc": "2.0", "id": ident, "error": error}
    else:
        return {
            "jsonrpc": "2.0",
            "id": ident,
            "error": {"code": -32601, "message": "no such method"},
        }
    return {"jsonrpc": "2.0", "id": ident, "result": result}


# -- stdio -----------------------------------------------------------------------------------
def serve_stdio() -> None:
    log_path = os.environ.get("MCP_TEST_LOG")
    version = os.environ.get("MCP_TEST_PROTOCOL_VERSION") or None

    def log(method: str) -> None:
        print(f"server: {method}", file=sys.stderr, flush=True)
        if log_path:
            with open(log_path, "a", encoding="utf-8") as handle:
                handle.write(method + "\n")

    def send(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    for line in sys.stdin:
        if not line.strip():
            continue
        message = json.loads(line)
        if message.get("method") == "tools/list":
            send(PING)
            reply = json.loads(sys.stdin.readline())
            assert reply.get("id") == PING["id"] and "result" in reply, reply
        if message.get("method") == "tools/call":
            send(LOG_NOTIFICATION)
        response = answer(message, log, version)
        if response is not None:
            send(response)


# -- streamable HTTP -------------------------------------------------------------------------
class MCPHTTPServer:
    """The server on 127.0.0.1 (a free port) in a thread; ``sse=True`` answers requests with
    an event stream. ``methods`` records what arrived; ``closed`` the sessions deleted."""

    def __init__(self, *, sse: bool = False, protocol_version: str | None = None) -> None:
        self.sse = sse
        self.protocol_version = protocol_version
        self.methods: list[str] = []
        self.closed: list[str] = []
        self.sessions: set[str] = set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/mcp"

    def __enter__(self) -> MCPHTTPServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def log(self, method: str) -> None:
        with self._lock:
            self.methods.append(method)


def _handler(server: MCPHTTPServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            message = json.loads(body)
            session = self.headers.get("Mcp-Session-Id")
            if message.get("method") == "initialize":
                session = f"session-{len(server.sessions) + 1}"
                server.sessions.add(session)
            elif session not in server.sessions:
                self._reply(400, b'{"error": "missing or unknown session"}', "application/json")
                return
            response = answer(message, server.log, server.protocol_version)
            if response is None:
                self._reply(202, b"", "application/json", session)
            elif server.sse:
                events = f"event: message\ndata: {json.dumps(LOG_NOTIFICATION)}\n\n"
                events += f"event: message\ndata: {json.dumps(response)}\n\n"
                self._reply(200, events.encode(), "text/event-stream", session)
            else:
                self._reply(200, json.dumps(response).encode(), "application/json", session)

        def do_DELETE(self) -> None:
            server.closed.append(self.headers.get("Mcp-Session-Id", ""))
            self._reply(200, b"", "application/json")

        def _reply(self, status: int, body: bytes, kind: str, session: str | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            if session:
                self.send_header("Mcp-Session-Id", session)
            self.end_headers()
            self.wfile.write(body)

    return Handler


if __name__ == "__main__":
    serve_stdio()
