"""The wall-clock deadline of one pull, enforced on every socket the pull waits on.

A per-request timeout bounds each wait for bytes, not a whole reply: a server (or proxy)
sending one byte every half second never trips it. So a pull (`pulling`) starts a timer;
while it runs, each connection about to wait for a reply registers its socket with the
pull (`watch_pools` installs the connection classes that do so), and when the timer fires
every registered socket is shut down, which ends any blocked read at once. Reply bodies
are read in pieces (`read_body`), checking the time left between them.

The pull travels in a context variable, so requests made on worker threads share it when
the work runs in a copy of the caller's context (``contextvars.copy_context().run``).
"""

from __future__ import annotations

import contextlib
import contextvars
import socket
import threading
import time
from collections.abc import Callable, Iterator

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_READ_CHUNK = 1 << 16


class Pull:
    """One pull's start, deadline (seconds, or None) and the sockets it is waiting on."""

    def __init__(self, deadline: float | None):
        self.began = time.monotonic()
        self.deadline = deadline
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._expired = False
        self._timer = None
        if deadline is not None:
            self._timer = threading.Timer(deadline, self._expire)
            self._timer.daemon = True
            self._timer.start()

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.began + self.deadline - time.monotonic()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            if self._expired:
                _shut(sock)
            else:
                self._sockets.add(sock)

    def unwatch(self, sock: socket.socket | None) -> None:
        with self._lock:
            self._sockets.discard(sock)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _expire(self) -> None:
        with self._lock:
            self._expired = True
            for sock in self._sockets:
                _shut(sock)
            self._sockets.clear()


_PULL: contextvars.ContextVar[Pull | None] = contextvars.ContextVar("imanalytics_pull",
                                                                    default=None)


@contextlib.contextmanager
def pulling(deadline: float | None) -> Iterator[Pull]:
    """Run a pull under `deadline`; a pull already running (nested calls) keeps its own."""
    current = _PULL.get()
    if current is not None:
        yield current
        return
    pull = Pull(deadline)
    token = _PULL.set(pull)
    try:
        yield pull
    finally:
        _PULL.reset(token)
        pull.close()


def remaining() -> float | None:
    """Seconds left in the current pull (None: no deadline or no pull)."""
    pull = _PULL.get()
    return None if pull is None else pull.remaining()


def spent() -> float:
    """Seconds since the current pull began."""
    pull = _PULL.get()
    return 0.0 if pull is None else time.monotonic() - pull.began


def read_body(reply: requests.Response, overdue: Callable[[], Exception],
              sink=None) -> requests.Response:
    """Read a streamed reply within the pull's deadline, then give its connection back.

    A successful reply goes block by block to `sink` if given (``start``, ``feed``, and
    ``finish``, whose bytes become the reply's content); otherwise it is read whole.
    """
    stream = sink is not None and reply.status_code == 200
    body = bytearray()  # grown in place: no list of chunks joined into a second copy
    try:
        if stream:
            sink.start()
        size = min(_READ_CHUNK, sink.block) if stream else _READ_CHUNK
        while chunk := reply.raw.read1(size, decode_content=True):
            if stream:
                sink.feed(chunk)
            else:
                body += chunk
            left = remaining()
            if left is not None and left <= 0:
                raise overdue()
        if stream:
            body = sink.finish()
    except BaseException:
        reply.close()  # a half-read connection cannot be reused
        raise
    pull = _PULL.get()
    if pull is not None:
        pull.unwatch(getattr(reply.raw.connection, "sock", None))
    reply._content = body
    reply.raw.release_conn()
    return reply


def watch_pools(adapter: HTTPAdapter) -> None:
    """Make `adapter`'s connections register their sockets with the running pull."""
    adapter.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


class _Watched:
    def getresponse(self, *args, **kwargs):
        pull = _PULL.get()
        if pull is not None and self.sock is not None:
            pull.watch(self.sock)
        return super().getresponse(*args, **kwargs)


class _HTTPConnection(_Watched, HTTPConnection):
    pass


class _HTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
