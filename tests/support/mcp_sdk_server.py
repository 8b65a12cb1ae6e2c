"""An MCP server built with the official ``mcp`` Python SDK, for interop tests.

Run as ``python mcp_sdk_server.py`` (stdio) or ``python mcp_sdk_server.py http PORT``
(streamable HTTP on 127.0.0.1:PORT, path ``/mcp``). Tools: ``add(a, b)``, ``echo(text)``,
``fail()`` (raises, which the SDK reports as an ``isError`` result).
"""

from __future__ import annotations

import sys

from mcp.server.mcpserver import MCPServer

server = MCPServer("castlm-sdk-test")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def echo(text: str) -> str:
    """Repeat a text."""
    return text


@server.tool()
def fail() -> str:
    """Always fails."""
    raise ValueError("it failed on purpose")


if __name__ == "__main__":
    if sys.argv[1:2] == ["http"]:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
