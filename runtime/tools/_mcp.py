"""Tools from MCP (Model Context Protocol) servers, over stdio or streamable HTTP.

castlm speaks the protocol's JSON-RPC directly (``initialize``, ``tools/list``, ``tools/call``)
with the standard library and httpx, so emitted packages need no SDK::

    with cl.MCPClient.stdio(["python", "weather_server.py"]) as client:
        agent = cl.ReAct(Forecast, tools=client.tools())

    client = cl.MCPClient.http("http://127.0.0.1:8000/mcp")

A client connects on first use and is closed by ``close()``, by leaving its ``with`` block, or
when it is garbage-collected. Its tools are :class:`castlm.Tool` objects: arguments are checked
against the server's input schema (required keys, unknown keys, basic types) before the call,
and an error result (``isError``) reaches the model as an error observation. Calls from several
threads are serialized on a stdio connection and run concurrently over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import queue
import re
import subprocess
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any, Protocol

from ..base._errors import MCPError, ToolError
from ..base._narrow import is_array, is_mapping, is_object
from ._tool import Tool

PROTOCOL_VERSION = "2025-06-18"
#: The revisions this client speaks (it asks for the newest). A server that answers
#: ``initialize`` with any other is refused, as the specification says: its messages may not
#: mean what this client would read into them.
SUPPORTED_PROTOCOL_VERSIONS = ("2024-11-05", "2025-03-26", PROTOCOL_VERSION)
CLIENT_INFO = {"name": "castlm", "version": "0.1.0"}

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
    "null": (type(None),),
}


class Transport(Protocol):
    """Moves JSON-RPC messages; ``exchange`` sends one and returns what came back for it."""

    def exchange(self, message: Mapping[str, Any], timeout: float) -> list[dict[str, Any]]: ...

    def close(self) -> None: ...


class MCPClient:
    """A connection to one MCP server; :meth:`tools` lists its tools as castlm Tools."""

    def __init__(self, transport: Transport, *, timeout: float = 30.0) -> None:
        self.transport = transport
        self.timeout = timeout
        self.server_info: dict[str, Any] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._ready = False
        self._finalizer = weakref.finalize(self, transport.close)

    @classmethod
    def stdio(
        cls,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        timeout: float = 30.0,
    ) -> MCPClient:
        """A server started as a subprocess, speaking newline-delimited JSON-RPC on its
        stdin/stdout. ``env`` is added to this process's environment."""
        return cls(StdioTransport(list(command), env=env, cwd=cwd), timeout=timeout)

    @classmethod
    def http(
        cls, url: str, *, headers: Mapping[str, str] | None = None, timeout: float = 30.0
    ) -> MCPClient:
        """A server at ``url`` speaking the streamable HTTP transport."""
        return cls(HTTPTransport(url, headers=headers, timeout=timeout), timeout=timeout)

    # -- the protocol ----------------------------------------------------------------------
    def connect(self) -> None:
        """``initialize`` and ``notifications/initialized`` (done on first use)."""
        with self._lock:
            if self._ready:
                return
            result = self._request(
                "initialize",
                {
                    "protocolVersion": PROTOCOL_VERSION,
                    "capabilities": {},
                    "clientInfo": CLIENT_INFO,
                },
            )
            self.server_info = dict(result.get("serverInfo") or {})
            version = _agreed_version(result.get("protocolVersion"), self.server_info)
            if isinstance(self.transport, HTTPTransport):
                self.transport.protocol_version = version
            self.transport.exchange(
                {"jsonrpc": "2.0", "method": "notifications/initialized"}, self.timeout
            )
            self._ready = True

    def request(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One JSON-RPC request; its ``result``, or MCPError."""
        self.connect()
        if isinstance(self.transport, StdioTransport):
            with self._lock:  # one request at a time on a pipe
                return self._request(method, params)
        return self._request(method, params)

    def list_tools(self) -> list[dict[str, Any]]:
        """The server's tool descriptions, every page."""
        tools: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            result = self.request("tools/list", {"cursor": cursor} if cursor else {})
            listed: list[Any] = result.get("tools") or []
            tools += [t for t in listed if is_object(t)]
            cursor = result.get("nextCursor")
            if not cursor:
                return tools

    def tools(self, names: Sequence[str] | None = None) -> list[Tool]:
        """The server's tools (or those named) as castlm Tools."""
        found = [MCPTool(self, spec) for spec in self.list_tools()]
        if names is None:
            return list(found)
        by_name = {t.remote_name: t for t in found}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise MCPError(f"the MCP server has no tool {missing[0]!r}; it has {sorted(by_name)}")
        return [by_name[n] for n in names]

    def call_tool(self, name: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """``tools/call``: the raw result (``content``, ``isError``, ``structuredContent``)."""
        return self.request("tools/call", {"name": name, "arguments": dict(arguments)})

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> MCPClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __deepcopy__(self, memo: dict[int, Any]) -> MCPClient:
        return self  # one connection, shared by copies of a program

    def _request(self, method: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
        ident = next(self._ids)
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": ident, "method": method}
        if params is not None:
            message["params"] = dict(params)
        for reply in self.transport.exchange(message, self.timeout):
            if reply.get("id") != ident or "method" in reply:
                continue
            if "error" in reply:
                error = reply["error"] if is_object(reply["error"]) else {}
                raise MCPError(
                    f"the MCP server refused {method}: {error.get('message', reply['error'])} "
                    f"(code {error.get('code')})"
                )
            result = reply.get("result")
            return result if is_object(result) else {}
        raise MCPError(f"the MCP server sent no answer to {method}")


def _agreed_version(version: object, server_info: Mapping[str, Any]) -> str:
    """The protocol revision the server chose, or MCPError when this client does not speak
    it (the server could not speak the one asked for)."""
    if isinstance(version, str) and version in SUPPORTED_PROTOCOL_VERSIONS:
        return version
    name = server_info.get("name") or "the MCP server"
    said = f"protocol version {version!r:.40}" if version is not None else "no protocol version"
    raise MCPError(
        f"{name} answered initialize with {said}; castlm's MCP client speaks "
        f"{', '.join(SUPPORTED_PROTOCOL_VERSIONS)} (it asked for {PROTOCOL_VERSION}). Use a "
        f"server (or server SDK version) that supports {PROTOCOL_VERSION}, or a castlm that "
        "supports the server's version."
    )


class MCPTool(Tool):
    """A tool of an MCP server. ``name`` is the server's name, made callable by models
    (characters other than letters, digits, ``_`` and ``-`` become ``_``); ``remote_name`` is
    the name the server knows."""

    def __init__(self, client: MCPClient, spec: Mapping[str, Any]) -> None:
        self.client = client
        self.remote_name = str(spec.get("name") or "")
        if not self.remote_name:
            raise MCPError(f"the MCP server listed a tool without a name: {spec!r:.200}")
        self.name = re.sub(r"[^A-Za-z0-9_-]", "_", self.remote_name)[:64]
        self.description = str(spec.get("description") or "")
        schema = spec.get("inputSchema")
        self.parameters = dict(schema) if is_mapping(schema) else {"type": "object"}
        self.parameters.setdefault("properties", {})
        self.func = self._call_remote
        self.is_async = False
        self._positional = ()

    def validate(self, args: Mapping[str, Any]) -> dict[str, Any]:
        if not is_mapping(args):  # the model's JSON, whatever the annotation says
            raise ToolError(f"{self.name}: arguments must be a JSON object, not {args!r}")
        problems = _schema_problems(self.parameters, args)
        if problems:
            raise ToolError(f"invalid arguments for {self.name}: {'; '.join(problems)}")
        return dict(args)

    def _call(self, values: dict[str, Any]) -> Any:
        return self._call_remote(**values)

    async def _acall(self, values: dict[str, Any]) -> Any:
        return await asyncio.to_thread(self._call_remote, **values)

    def _call_remote(self, **arguments: Any) -> Any:
        try:
            result = self.client.call_tool(self.remote_name, arguments)
        except MCPError as exc:
            raise ToolError(str(exc)) from exc
        text = _content_text(result)
        if result.get("isError"):
            raise ToolError(f"{self.name} failed: {text}")
        if not text and "structuredContent" in result:
            return result["structuredContent"]
        return text

    def __repr__(self) -> str:
        return f"MCPTool({self.remote_name!r})"


def _content_text(result: Mapping[str, Any]) -> str:
    """The text of a tool result's content blocks; other blocks are named, not inlined."""
    parts: list[str] = []
    blocks: list[Any] = result.get("content") or []
    for block in blocks:
        if not is_object(block):
            continue
        if block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        elif block.get("type") == "resource" and is_object(block.get("resource")):
            parts.append(str(block["resource"].get("text") or block["resource"].get("uri")))
        else:
            parts.append(f"[{block.get('type')} content]")
    return "\n".join(parts)


def _schema_problems(schema: Mapping[str, Any], args: Mapping[str, Any]) -> list[str]:
    """Top-level checks of ``args`` against a JSON schema: what models get wrong most."""
    properties: dict[str, Any] = schema.get("properties") or {}
    required: list[Any] = schema.get("required") or []
    problems = [f"{name}: Field required" for name in required if name not in args]
    if schema.get("additionalProperties") is False:
        problems += [
            f"{name}: Extra inputs are not permitted" for name in args if name not in properties
        ]
    for name, value in args.items():
        prop = properties.get(name)
        if not is_mapping(prop):
            continue
        kinds = prop.get("type")
        allowed: list[Any] = [kinds] if isinstance(kinds, str) else list(kinds or [])
        types = tuple(t for k in allowed for t in _JSON_TYPES.get(str(k), ()))
        wrong_bool = isinstance(value, bool) and bool not in types
        if types and (not isinstance(value, types) or wrong_bool):
            problems.append(f"{name}: expected {' or '.join(map(str, allowed))}, got {value!r:.50}")
        if "enum" in prop and value not in prop["enum"]:
            problems.append(f"{name}: must be one of {prop['enum']}")
    return problems


# -- transports ------------------------------------------------------------------------------
class StdioTransport:
    """A server subprocess: one JSON message per line each way; stderr is the server's log."""

    def __init__(
        self, command: list[str], *, env: Mapping[str, str] | None, cwd: str | None
    ) -> None:
        if not command:
            raise MCPError("MCPClient.stdio needs a command, e.g. ['python', 'server.py']")
        self.command = command
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self._process: subprocess.Popen[bytes] | None = None
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._start_lock = threading.Lock()

    def _started(self) -> subprocess.Popen[bytes]:
        with self._start_lock:
            if self._process is None:
                try:
                    self._process = subprocess.Popen(
                        self.command,
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.DEVNULL,
                        env=self.env,
                        cwd=self.cwd,
                    )
                except OSError as exc:
                    raise MCPError(f"could not start the MCP server {self.command}: {exc}") from exc
                assert self._process.stdout is not None
                threading.Thread(
                    target=_pump, args=(self._process.stdout, self._lines), daemon=True
                ).start()
            return self._process

    def exchange(self, message: Mapping[str, Any], timeout: float) -> list[dict[str, Any]]:
        process = self._started()
        self._write(process, message)
        if "id" not in message:  # a notification: nothing comes back
            return []
        while True:
            try:
                line = self._lines.get(timeout=timeout)
            except queue.Empty:
                raise MCPError(
                    f"the MCP server {self.command[0]} did not answer within {timeout:g}s"
                ) from None
            if line is None:
                raise MCPError(f"the MCP server {self.command[0]} exited ({_status(process)})")
            reply = _json_line(line)
            if reply is None:
                continue  # a stray log line on stdout
            if "method" in reply:
                self._answer_server(process, reply)
                continue
            if reply.get("id") == message["id"]:
                return [reply]

    def _answer_server(self, process: subprocess.Popen[bytes], request: Mapping[str, Any]) -> None:
        """Requests from the server: ``ping`` is answered; others are declined."""
        if "id" not in request:
            return  # a notification (log, progress)
        if request.get("method") == "ping":
            self._write(process, {"jsonrpc": "2.0", "id": request["id"], "result": {}})
        else:
            error = {"code": -32601, "message": "castlm's MCP client does not support this"}
            self._write(process, {"jsonrpc": "2.0", "id": request["id"], "error": error})

    def _write(self, process: subprocess.Popen[bytes], message: Mapping[str, Any]) -> None:
        assert process.stdin is not None
        try:
            process.stdin.write(json.dumps(message).encode("utf-8") + b"\n")
            process.stdin.flush()
        except OSError as exc:
            raise MCPError(f"the MCP server {self.command[0]} is gone: {exc}") from exc

    def close(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            if process.stdin is not None:
                process.stdin.close()  # the polite shutdown: end of input
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _status(process: subprocess.Popen[bytes]) -> str:
    try:
        return f"status {process.wait(timeout=2)}"
    except subprocess.TimeoutExpired:  # it closed its stdout but is still running
        return "its output closed"


def _pump(stream: IO[bytes], lines: queue.Queue[bytes | None]) -> None:
    for line in iter(stream.readline, b""):
        lines.put(line)
    lines.put(None)


def _json_line(line: bytes | str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return value if is_object(value) else None


class HTTPTransport:
    """The streamable HTTP transport: each message is POSTed; the answer is a JSON body or a
    server-sent event stream; the session id the server assigns is sent back on every request."""

    def __init__(self, url: str, *, headers: Mapping[str, str] | None, timeout: float) -> None:
        import httpx

        self.url = url
        self.session_id: str | None = None
        self.protocol_version: str | None = None
        self._client = httpx.Client(timeout=timeout, headers=dict(headers or {}))

    def exchange(self, message: Mapping[str, Any], timeout: float) -> list[dict[str, Any]]:
        import httpx

        headers = {"Accept": "application/json, text/event-stream"}
        if self.session_id:
            headers["Mcp-Session-Id"] = self.session_id
        if self.protocol_version:
            headers["MCP-Protocol-Version"] = self.protocol_version
        try:
            with self._client.stream(
                "POST", self.url, json=dict(message), headers=headers, timeout=timeout
            ) as response:
                if response.headers.get("mcp-session-id"):
                    self.session_id = response.headers["mcp-session-id"]
                if response.status_code == 202:
                    return []
                if response.status_code >= 400:
                    response.read()
                    raise MCPError(
                        f"the MCP server at {self.url} answered HTTP {response.status_code}: "
                        f"{response.text[:200]}"
                    )
                kind = response.headers.get("content-type", "")
                if "text/event-stream" in kind:
                    return self._events(response.iter_lines(), message)
                response.read()
                return _json_messages(response.text)
        except httpx.HTTPError as exc:
            raise MCPError(f"could not reach the MCP server at {self.url}: {exc}") from exc

    def _events(self, lines: Iterator[str], message: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Messages from an event stream, until the answer to ``message`` arrives."""
        found: list[dict[str, Any]] = []
        data: list[str] = []
        for line in lines:
            if line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
                continue
            if line or not data:
                continue
            event = _json_line("\n".join(data))
            data = []
            if event is None:
                continue
            if "method" in event and "id" in event:
                self._answer_server(event)
                continue
            found.append(event)
            if event.get("id") == message.get("id"):
                break
        return found

    def _answer_server(self, request: Mapping[str, Any]) -> None:
        if request.get("method") == "ping":
            reply: dict[str, Any] = {"jsonrpc": "2.0", "id": request["id"], "result": {}}
        else:
            error = {"code": -32601, "message": "castlm's MCP client does not support this"}
            reply = {"jsonrpc": "2.0", "id": request["id"], "error": error}
        with contextlib.suppress(MCPError):
            self.exchange(reply, 10.0)

    def close(self) -> None:
        if self.session_id:  # end the session on the server (best effort)
            with contextlib.suppress(Exception):
                self._client.delete(self.url, headers={"Mcp-Session-Id": self.session_id})
        self._client.close()


def _json_messages(text: str) -> list[dict[str, Any]]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return []
    items = value if is_array(value) else [value]
    return [m for m in items if is_object(m)]
