"""A scripted HTTP server on a loopback port, for what a real server cannot show on demand.

Subclasses give a `BaseHTTPRequestHandler` subclass; each request's handler reaches the
server object as ``self.fake``. Serves while open as a context manager.
"""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopbackHTTP:
    def __init__(self, handler: type[BaseHTTPRequestHandler], host: str = "127.0.0.1",
                 tls: ssl.SSLContext | None = None):
        self.httpd = ThreadingHTTPServer((host, 0), type("Handler", (handler,), {"fake": self}))
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://{host}:{self.httpd.server_address[1]}"
        # A short poll interval: shutdown() waits for it, once per test.
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,),
                                        daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
