"""Interop with the official MCP Python SDK: castlm's client against an SDK server (stdio and
streamable HTTP), and castlm's own test server checked against the SDK's message types."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import castlm as cl
import pytest
from support import mcp_server
from support.fake_openai import free_port

mcp_types = pytest.importorskip("mcp_types")

SDK_SERVER = str(Path(__file__).parent / "support" / "mcp_sdk_server.py")


def _check_tools(client: cl.MCPClient) -> None:
    tools = {t.name: t for t in client.tools()}
    assert sorted(tools) == ["add", "echo", "fail"]
    assert tools["add"].run({"a": 2, "b": 3}).text == "5"
    assert tools["echo"].run({"text": "hi"}).text == "hi"
    failed = tools["fail"].run({})
    assert not failed.ok and "fail failed" in failed.text
    assert not tools["add"].run({"a": "two"}).ok  # checked against the SDK's schema first


def test_stdio_client_against_the_sdk_server() -> None:
    with cl.MCPClient.stdio([sys.executable, SDK_SERVER], timeout=30) as client:
        _check_tools(client)
        assert client.server_info["name"] == "castlm-sdk-test"


@pytest.fixture
def sdk_http_url() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, SDK_SERVER, "http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    """Until the server listens (it imports the SDK first); an early exit is a failure."""
    while process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.1)  # a pause that ends early if the server dies
    pytest.fail(f"the SDK server exited with status {process.returncode}")


def test_http_client_against_the_sdk_server(sdk_http_url: str) -> None:
    with cl.MCPClient.http(sdk_http_url, timeout=30) as client:
        _check_tools(client)
        assert client.transport.protocol_version == mcp_server.VERSIONS[-1]  # type: ignore[attr-defined]


# -- castlm's test server speaks the protocol as the SDK reads it ----------------------------


def _envelope(message: dict[str, Any]) -> None:
    mcp_types.jsonrpc_message_adapter.validate_python(message)


def test_test_server_notifications_and_requests_are_valid() -> None:
    for note in (mcp_server.LOG_NOTIFICATION,):
        _envelope(note)
        mcp_types.server_notification_adapter.validate_python(
            {"method": note["method"], "params": note["params"]}
        )
    _envelope(mcp_server.PING)
    mcp_types.server_request_adapter.validate_python({"method": "ping"})


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("initialize", {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {}}),
        ("tools/list", {}),
        ("tools/list", {"cursor": "2"}),
        ("tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}}),
        ("tools/call", {"name": "fail", "arguments": {}}),
    ],
)
def test_test_server_results_are_valid(method: str, params: dict[str, Any]) -> None:
    response = mcp_server.answer(
        {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, print
    )
    assert response is not None and "result" in response
    _envelope(response)
    mcp_types.server_result_adapter.validate_python(response["result"])
