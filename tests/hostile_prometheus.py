"""A misbehaving Prometheus for the failures a real server never shows on demand.

`HostilePrometheus` listens on a loopback address (127.0.0.1, 127.0.0.2, ...) and answers
each request with the next scripted action, then with `default`. An action writes the raw
reply itself, so it can trickle, cut the connection, lie about lengths or redirect. Every
request is recorded (path, query parameters, headers).
"""

from __future__ import annotations

import gzip
import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from loopback_http import LoopbackHTTP

T0 = 1_700_000_000  # epoch seconds on every grid below
Action = Callable[["_Handler", dict], None]


def body_of(reply) -> bytes:
    return reply if isinstance(reply, bytes) else json.dumps(reply).encode()


def matrix(*series: tuple[dict, list]) -> dict:
    """A query_range reply: (labels, [[t, "v"], ...]) per series."""
    return {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": labels, "values": values} for labels, values in series]}}


def up_matrix(value: str = "1", n: int = 2) -> dict:
    return matrix(({"__name__": "up"}, [[T0 + 15 * i, value] for i in range(n)]))


def reply(body=None, status: int = 200, headers: dict | None = None) -> Action:
    """A well-formed HTTP reply (the default body: a two-point `up` matrix)."""
    def act(handler, request):
        handler.send(status, body_of(up_matrix() if body is None else body), headers or {})
    return act


def echo(make: Callable[[dict], object], status: int = 200) -> Action:
    """A reply built from the request (e.g. echoing its headers, as a careless proxy does)."""
    def act(handler, request):
        handler.send(status, body_of(make(request)), {})
    return act


def trickle(every: float = 0.2) -> Action:
    """A valid reply sent one byte at a time."""
    def act(handler, request):
        data = body_of(up_matrix(n=200))
        handler.head(200, {"Content-Length": str(len(data))})
        for i in range(len(data)):
            handler.wfile.write(data[i:i + 1])
            handler.wfile.flush()
            time.sleep(every)
    return act


def trickle_headers(every: float = 0.2) -> Action:
    """The status line and headers sent one byte at a time (a slow-loris proxy)."""
    def act(handler, request):
        head = b"HTTP/1.1 200 OK\r\n" + b"X-Padding: " + b"x" * 10_000 + b"\r\n\r\n"
        for i in range(len(head)):
            handler.wfile.write(head[i:i + 1])
            handler.wfile.flush()
            time.sleep(every)
    return act


def reset_mid_body() -> Action:
    """Half the body, then a TCP reset."""
    def act(handler, request):
        data = body_of(up_matrix(n=100))
        handler.head(200, {"Content-Length": str(len(data))})
        handler.wfile.write(data[: len(data) // 2])
        handler.wfile.flush()
        # Lingering 0 s turns the close after this reply into a reset.
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                      struct.pack("ii", 1, 0))
        handler.close_connection = True
    return act


def short_body() -> Action:
    """A Content-Length larger than the body, then a clean close."""
    def act(handler, request):
        data = body_of(up_matrix(n=100))
        handler.head(200, {"Content-Length": str(len(data) + 500)})
        handler.wfile.write(data)
        handler.wfile.flush()
        handler.close_connection = True
    return act


def bad_gzip() -> Action:
    """``Content-Encoding: gzip`` over bytes that are not gzip (a truncated stream)."""
    def act(handler, request):
        data = gzip.compress(body_of(up_matrix(n=100)))[:40] + b"\x00garbage" * 8
        handler.send(200, data, {"Content-Encoding": "gzip"})
    return act


def redirect(location: str, status: int = 302) -> Action:
    def act(handler, request):
        handler.send(status, b"", {"Location": location})
    return act


class HostilePrometheus(LoopbackHTTP):
    def __init__(self, *actions: Action, host: str = "127.0.0.1",
                 default: Action | None = None):
        self.actions = list(actions)
        self.default = default or reply()
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        super().__init__(_Handler, host)

    @property
    def count(self) -> int:
        return len(self.requests)

    def next_action(self, request: dict) -> Action:
        with self._lock:
            self.requests.append(request)
            return self.actions.pop(0) if self.actions else self.default


class _Handler(BaseHTTPRequestHandler):
    fake: HostilePrometheus
    protocol_version = "HTTP/1.1"  # keep-alive, as Prometheus and proxies do

    def do_GET(self):
        self._serve(urlsplit(self.path).query)

    def do_POST(self):
        self._serve(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())

    def _serve(self, query: str) -> None:
        request = {"method": self.command, "path": urlsplit(self.path).path,
                   "params": parse_qs(query), "headers": dict(self.headers),
                   "peer": self.client_address}
        try:
            self.fake.next_action(request)(self, request)
        except OSError:
            pass  # the client gave up (deadline) or the action cut the connection

    def head(self, status: int, headers: dict) -> None:
        self.send_response(status)
        for key, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(key, value)
        self.end_headers()

    def send(self, status: int, data: bytes, headers: dict) -> None:
        self.head(status, {"Content-Length": str(len(data)), **headers})
        self.wfile.write(data)

    def log_message(self, *args):
        pass
