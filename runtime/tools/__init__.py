"""Tools an agent can call: plain Python functions and MCP servers."""
