"""MCP tools over stdio and streamable HTTP, against a small server the tests start."""

from __future__ import annotations

import sys
from pathlib import Path

import castlm as cl
import pytest
from castlm.testing import ScriptedLM
from support.mcp_server import MCPHTTPServer

SERVER = str(Path(__file__).parent / "support" / "mcp_server.py")


def stdio_client(tmp_path: Path) -> tuple[cl.MCPClient, Path]:
    log = tmp_path / "calls.log"
    client = cl.MCPClient.stdio(
        [sys.executable, SERVER], env={"MCP_TEST_LOG": str(log)}, timeout=10
    )
    return client, log


def test_stdio_tools_are_listed_across_pages_and_described(tmp_path: Path) -> None:
    client, log = stdio_client(tmp_path)
    with client:
        tools = client.tools()
        assert [t.name for t in tools] == ["add", "echo", "fail", "weather_get"]
        assert client.server_info["name"] == "castlm-test-server"
    add = tools[0]
    assert add.description == "Add two integers."
    assert add.parameters["required"] == ["a", "b"]
    assert add.spec()["function"]["name"] == "add"
    assert tools[3].remote_name == "weather.get"  # type: ignore[attr-defined]
    methods = log.read_text().split()
    assert methods[:2] == ["initialize", "notifications/initialized"]
    assert methods.count("tools/list") == 2  # two pages


def test_stdio_tools_call_the_server_and_report_errors(tmp_path: Path) -> None:
    client, log = stdio_client(tmp_path)
    with client:
        add, echo, fail, weather = client.tools()
        assert add.run({"a": 2, "b": 3}) == cl.Observation("5", True, "5")
        assert echo(text="hello") == "hello"
        assert weather.run('{"city": "Oslo"}').text == "snow, -3 C"
        failed = fail.run({})
        assert failed == cl.Observation("Error: fail failed: it failed on purpose", False)
        calls_before = log.read_text().count("tools/call")
        bad = add.run({"a": "two"})
        assert bad.text == (
            "Error: invalid arguments for add: b: Field required; a: expected integer, got 'two'"
        )
        assert not weather.run({"city": "Paris"}).ok
        assert log.read_text().count("tools/call") == calls_before  # never sent
        with pytest.raises(cl.MCPError, match="unknown tool"):
            client.call_tool("nope", {})
        with pytest.raises(cl.MCPError, match="has no tool 'nope'"):
            client.tools(["add", "nope"])


def test_a_react_agent_uses_mcp_tools(tmp_path: Path) -> None:
    class QA(cl.Signature):
        """Answer."""

        question: str = cl.InputField()
        answer: str = cl.OutputField()

    replies = [
        "[[ ## next_thought ## ]]\nAdd.\n\n[[ ## next_tool_name ## ]]\nadd\n\n"
        '[[ ## next_tool_args ## ]]\n{"a": 20, "b": 22}\n\n[[ ## completed ## ]]',
        "[[ ## next_thought ## ]]\nDone.\n\n[[ ## next_tool_name ## ]]\nfinish\n\n"
        "[[ ## next_tool_args ## ]]\n{}\n\n[[ ## completed ## ]]",
        "[[ ## reasoning ## ]]\nIt said 42.\n\n[[ ## answer ## ]]\n42\n\n[[ ## completed ## ]]",
    ]
    client, _ = stdio_client(tmp_path)
    with client:
        agent = cl.ReAct(QA, tools=client.tools(["add"]))
        agent.set_lm(ScriptedLM(replies))
        result = agent(question="What is 20 + 22?")
    assert result.answer == "42"
    assert "observation_0: 42" in result.trajectory  # type: ignore[attr-defined]


def test_a_server_that_exits_is_an_error_not_a_hang(tmp_path: Path) -> None:
    client = cl.MCPClient.stdio([sys.executable, "-c", "pass"], timeout=5)
    with client, pytest.raises(cl.MCPError, match="exited"):
        client.tools()
    with pytest.raises(cl.MCPError, match="could not start"):
        cl.MCPClient.stdio(["/nonexistent/mcp-server"]).tools()


@pytest.mark.parametrize("sse", [False, True], ids=["json", "event-stream"])
def test_streamable_http_keeps_the_session_and_closes_it(sse: bool) -> None:
    with MCPHTTPServer(sse=sse) as server:
        client = cl.MCPClient.http(server.url, timeout=5)
        tools = client.tools()
        assert [t.name for t in tools] == ["add", "echo", "fail", "weather_get"]
        assert tools[0].run({"a": 1, "b": 1}).text == "2"
        assert tools[2].run({}).text == "Error: fail failed: it failed on purpose"
        client.close()
        assert server.methods[:2] == ["initialize", "notifications/initialized"]
        assert server.closed == ["session-1"]


def test_an_unreachable_http_server_is_an_observation_for_the_model() -> None:
    with MCPHTTPServer() as server:
        client = cl.MCPClient.http(server.url, timeout=5)
        (add, *_) = client.tools()
    observation = add.run({"a": 1, "b": 2})  # the server is gone now
    assert not observation.ok and "could not reach the MCP server" in observation.text
    client.close()


@pytest.mark.parametrize("version", ["2099-01-01", "2025-11-25"])
def test_a_server_answering_an_unsupported_protocol_version_is_refused(
    tmp_path: Path, version: str
) -> None:
    client = cl.MCPClient.stdio(
        [sys.executable, SERVER], env={"MCP_TEST_PROTOCOL_VERSION": version}, timeout=10
    )
    with client, pytest.raises(cl.MCPError, match=rf"protocol version '{version}'.*speaks"):
        client.tools()
    with MCPHTTPServer(protocol_version=version) as server:
        with cl.MCPClient.http(server.url, timeout=5) as http, pytest.raises(cl.MCPError):
            http.tools()
        assert server.methods == ["initialize"]  # nothing more was said to it


def test_an_older_supported_protocol_version_is_accepted(tmp_path: Path) -> None:
    with (
        MCPHTTPServer(protocol_version="2025-03-26") as server,
        cl.MCPClient.http(server.url, timeout=5) as client,
    ):
        assert len(client.tools()) == 4
        assert client.transport.protocol_version == "2025-03-26"  # type: ignore[attr-defined]
