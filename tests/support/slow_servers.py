"""Local servers for transport tests: one that drips its answer, a forwarding proxy and an
HTTPS server with a self-signed certificate.

Both listen on 127.0.0.1 on a free port, run in a daemon thread, and stop with ``stop()``
(or as context managers).
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

COMPLETION = (
    b'{"choices":[{"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],'
    b'"model":"m","usage":{"prompt_tokens":1,"completion_tokens":1}}'
)


class DrippingServer:
    """Answers every connection with a valid completion, one byte every ``interval`` seconds,
    and counts how many answers it finished sending."""

    def __init__(self, interval: float = 0.3) -> None:
        self.interval = interval
        self.finished = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/v1"

    def __enter__(self) -> DrippingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        self._listener.close()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        answer = head + b"Content-Length: %d\r\n\r\n" % len(COMPLETION) + COMPLETION
        with conn:
            conn.recv(65536)  # the request (small enough for one read)
            for i in range(len(answer)):
                if self._stopping.is_set():
                    return
                try:
                    conn.sendall(answer[i : i + 1])
                except OSError:  # the client gave up
                    return
                time.sleep(self.interval)
            self.finished += 1


class ForwardingProxy:
    """An HTTP proxy: forwards absolute-URL requests, tunnels ``CONNECT host:port`` (how a
    client reaches an HTTPS endpoint through a proxy), and records each URL or tunnel."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _ProxyHandler)
        self._server.proxy = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> ForwardingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        proxy: ForwardingProxy = self.server.proxy  # type: ignore[attr-defined]
        proxy.seen.append(self.path)
        target = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        upstream = http.client.HTTPConnection(target.hostname or "", target.port or 80)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-connection"}
        upstream.request("POST", target.path, body=body, headers=headers)
        answer = upstream.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.getheader("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        upstream.close()

    def do_CONNECT(self) -> None:
        proxy: ForwardingProxy = self.server.proxy  # type: ignore[attr-defined]
        proxy.seen.append(f"CONNECT {self.path}")
        host, _, port = self.path.rpartition(":")
        upstream = socket.create_connection((host, int(port)), timeout=30)
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        _pipe_both_ways(self.connection, upstream)
        self.close_connection = True


def _pipe_both_ways(client: socket.socket, upstream: socket.socket) -> None:
    """Copy bytes between the two sockets until either side closes (the TLS inside is
    end to end: the proxy sees only the tunnel)."""

    def copy(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                target.sendall(chunk)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)

    back = threading.Thread(target=copy, args=(upstream, client), daemon=True)
    back.start()
    copy(client, upstream)
    back.join(timeout=30)
    upstream.close()


class TLSServer:
    """Answers every POST with a completion over HTTPS, with a self-signed certificate for
    127.0.0.1 made by the openssl command line (``cert`` is its path: a CA file for clients)."""

    def __init__(self, directory: Path) -> None:
        self.cert = directory / "cert.pem"
        key = directory / "key.pem"
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                "-keyout", str(key), "-out", str(self.cert),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )  # fmt: skip
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _CompletionHandler)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> TLSServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class _CompletionHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(COMPLETION)))
        self.end_headers()
        self.wfile.write(COMPLETION)

    def handle(self) -> None:
        with contextlib.suppress(ssl.SSLError, ConnectionError):  # a client refused our cert
            super().handle()
