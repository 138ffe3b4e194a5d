"""A local HTTP target for the scheduler's tests: counts what it receives, answers on demand.

Paths: /ok, /status/<code>, /slow?ms=N, /slow-first?ms=N (slow for attempt 1 only),
/huge?bytes=N, /redirect?to=<url>[&code=30x], /loop (redirects to itself). Every request is kept (path, headers) so tests can assert what went out.
"""

from __future__ import annotations

import socket
import ssl
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: str


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def _answer(self) -> None:
        parts = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        self.server.record(Received(self.command, parts.path, dict(self.headers.items()), body))
        if parts.path.startswith("/status/"):
            self._send(int(parts.path.rsplit("/", 1)[1]), b"status")
        elif parts.path == "/slow" or (
            parts.path == "/slow-first" and self.headers.get("X-Cronicorn-Attempt") == "1"
        ):
            time.sleep(int(query.get("ms", "1000")) / 1000)
            self._send(200, b"slow")
        elif parts.path == "/huge":
            self._send_huge(int(query.get("bytes", str(50 * 1024 * 1024))))
        elif parts.path == "/redirect":
            self._send(int(query.get("code", "302")), b"", {"Location": query["to"]})
        elif parts.path == "/loop":
            self._send(302, b"", {"Location": "/loop"})
        else:
            self._send(200, b"ok")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _answer

    def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_huge(self, size: int) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        chunk = b"x" * 65536
        try:
            for _ in range(size // len(chunk)):
                self.wfile.write(chunk)
        except OSError:  # the client stopped reading, as it should
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.received: list[Received] = []

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hung up (a timeout, an interrupted run) is expected here, not an error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def record(self, received: Received) -> None:
        with self.lock:
            self.received.append(received)


class TargetServer:
    """with TargetServer() as target: target.url("/ok"); target.received; target.slots().
    With a server SSLContext it answers HTTPS."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls

    def __enter__(self) -> TargetServer:
        self._server = _Server()
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    @property
    def received(self) -> list[Received]:
        with self._server.lock:
            return list(self._server.received)

    def slots(self) -> Counter[tuple[str, str]]:
        """How many requests each (path, X-Cronicorn-Scheduled-For) got."""
        return Counter(
            (item.path, item.headers.get("X-Cronicorn-Scheduled-For", "")) for item in self.received
        )


def refused_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"
