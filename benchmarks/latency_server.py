"""A fixed-latency OpenAI-compatible chat server for the benchmarks (stdlib only).

It answers ``POST /v1/chat/completions`` after exactly ``--latency`` seconds, the way a model
behind an endpoint would, and never does more work than parsing the request and writing a
short reply, so that what a benchmark measures is the client framework, not the server.

The server is a raw asyncio HTTP/1.1 server with keep-alive (``http.server`` cannot sustain
thousands of concurrent requests per second on a small machine). It runs in its own process::

    python benchmarks/latency_server.py --latency 0.05      # prints "READY <port>", then serves

Replies are well formed for both castlm's and DSPy's prompt formats: the server reads the
output field names the prompt asks for (the ``[[ ## name ## ]]`` headers, or the keys of a
JSON reply; from the last user message's closing sentence, else from the system message's
format rules, where castlm's JSON adapter states them) and answers a support-ticket
classification deterministically from keywords of the input (and the urgency and customer of
examples/triage). Every other output field (reasoning, proposed instructions, dataset
summaries) gets a short sentence. ``GET /stats`` returns the chat requests counted per model
name, which is how the compile benchmark counts LM calls.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from collections import Counter
from typing import Any

CATEGORIES = ("billing", "bug", "account", "feature_request", "other")

# Keyword → category, first match wins. Deliberately imperfect: optimizers see a mix of right
# and wrong answers, as they would with a real model.
KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("billing", ("refund", "charge", "invoice", "billing", "payment", "price", "card", "paid")),
    ("account", ("login", "log in", "password", "sso", "sign in", "account", "delete my")),
    ("bug", ("crash", "error", "broken", "bug", "fails", "sync", "freez", "not working")),
    ("feature_request", ("feature", "would love", "please add", "support for", "wish")),
)

# castlm's JSON adapter: the format rule in the system message, no closing sentence.
SYSTEM_JSON_RULE = "Reply with one JSON object"
_HEADER = re.compile(r"\[\[ ## (\w+) ## \]\]")
_JSON_KEY = re.compile(r"`(\w+)`|\"(\w+)\"")

INSTRUCTION = (
    "Read the support ticket and classify it: billing for charges and refunds, account for "
    "logins and access, bug for errors and crashes, feature_request for new features, "
    "otherwise other."
)


def classify(text: str) -> str:
    lowered = text.lower()
    for category, words in KEYWORDS:
        if any(word in lowered for word in words):
            return category
    return "other"


def _text(content: Any) -> str:
    """A message's content: a string, or OpenAI content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def requested_fields(prompt: str) -> tuple[list[str], bool]:
    """The output field names a prompt's closing sentence asks for, and whether as JSON."""
    tail = prompt[prompt.rfind("Respond with") :] if "Respond with" in prompt else prompt
    names = [n for n in _HEADER.findall(tail) if n != "completed"]
    if names:
        return list(dict.fromkeys(names)), False
    if "JSON" in tail:
        keys = [a or b for a, b in _JSON_KEY.findall(tail)]
        return list(dict.fromkeys(keys)), True
    return [], False


def _json_rule(system: str) -> str:
    """The line of a system message stating castlm's JSON reply format ("" if none)."""
    start = system.find(SYSTEM_JSON_RULE)
    if start < 0:
        return ""
    end = system.find("\n", start)
    return system[start : end if end >= 0 else len(system)]


def value_for(name: str, inputs: str) -> Any:
    if "category" in name or name in ("label", "answer", "class"):
        return classify(inputs)
    if name == "urgent":  # examples/triage's other outputs
        return any(word in inputs.lower() for word in ("urgent", "blocked", "down", "asap"))
    if name == "customer":
        return {"plan": "pro" if "pro" in inputs.lower() else "free", "product": "web app"}
    if "instruction" in name:
        return INSTRUCTION
    if name in ("reasoning", "rationale"):
        return f"The ticket reads like a {classify(inputs)} request."
    return "Support tickets from customers of a software product, labeled by category."


def answer(messages: list[dict[str, Any]]) -> str:
    """The reply text for one chat request."""
    users = [_text(m.get("content")) for m in messages if m.get("role") == "user"]
    last = users[-1] if users else ""
    fields, as_json = requested_fields(last)
    if not fields:
        system = [_text(m.get("content")) for m in messages if m.get("role") == "system"]
        fields, as_json = requested_fields(_json_rule(system[0] if system else ""))
    inputs = last[: last.rfind("Respond with")] if "Respond with" in last else last
    if not fields:
        return INSTRUCTION
    values = {name: value_for(name, inputs) for name in fields}
    if as_json:
        return json.dumps(values)
    body = "\n\n".join(f"[[ ## {name} ## ]]\n{_plain(value)}" for name, value in values.items())
    return f"{body}\n\n[[ ## completed ## ]]"


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def completion(body: dict[str, Any]) -> dict[str, Any]:
    messages = body.get("messages") or []
    text = answer(messages)
    prompt_chars = sum(len(_text(m.get("content"))) for m in messages)
    choices = [
        {
            "index": i,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop",
            "logprobs": None,
        }
        for i in range(int(body.get("n") or 1))
    ]
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "bench"),
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_chars // 4,
            "completion_tokens": len(text) // 4,
            "total_tokens": prompt_chars // 4 + len(text) // 4,
        },
    }


class Server:
    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.calls: Counter[str] = Counter()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                method, path, headers = _parse_head(head)
                length = int(headers.get("content-length", "0"))
                body = await reader.readexactly(length) if length else b""
                status, payload = await self.route(method, path, body)
                writer.write(_response(status, payload))
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def route(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        path = path.split("?", 1)[0]
        if method == "POST" and path.endswith("/chat/completions"):
            request = json.loads(body)
            self.calls[str(request.get("model", ""))] += 1
            await asyncio.sleep(self.latency)
            return 200, json.dumps(completion(request)).encode()
        if method == "GET" and path == "/stats":
            return 200, json.dumps(dict(self.calls)).encode()
        if method == "GET" and path.endswith("/models"):
            return 200, b'{"object": "list", "data": []}'
        return 404, b'{"error": {"message": "not found"}}'


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
    return method, path, headers


def _response(status: int, payload: bytes) -> bytes:
    reason = {200: "OK", 404: "Not Found"}[status]
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + payload


async def serve(port: int, latency: float) -> None:
    server = Server(latency)
    tcp = await asyncio.start_server(server.handle, "127.0.0.1", port, backlog=1024)
    bound = tcp.sockets[0].getsockname()[1]
    print(f"READY {bound}", flush=True)
    async with tcp:
        await tcp.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.port, args.latency))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
