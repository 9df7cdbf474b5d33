"""Helper processes on loopback: start one with its output in a log, wait until it is
ready, stop it, and find free ports; what every sandbox server shares."""

from __future__ import annotations

import ctypes
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path


class LoopbackProcess:
    """A server process on a loopback port, run from its own temporary directory.

    Subclasses set `dir`, `port` and `process` in `start`; use as a context manager or call
    `start` / `stop`.
    """

    stop_timeout = 10.0  # seconds between asking the process to stop and killing it
    dir: Path | None = None
    port: int | None = None
    process: subprocess.Popen | None = None

    def start(self):
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the process and remove its directory; safe to call twice."""
        self.process = terminate(self.process, timeout=self.stop_timeout)
        self.dir = remove_dir(self.dir)
        self.port = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @contextmanager
    def _stop_on_failure(self):
        """Around start-up steps: any failure (Ctrl-C too) stops and cleans up first."""
        try:
            yield
        except BaseException:
            self.stop()
            raise


def spawn(command: Sequence[str], log: Path) -> subprocess.Popen:
    """Start `command` writing to `log`; Linux stops it if this Python process dies."""
    with open(log, "w") as out:
        return subprocess.Popen(list(command), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)


def wait_ready(url: str, process: subprocess.Popen, timeout: float) -> bool:
    """Whether ``{url}/-/ready`` answers 200 within `timeout` seconds; False as soon as
    `process` exits, or when the time runs out with it still running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as reply:
                if reply.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def terminate(proc: subprocess.Popen | None, timeout: float) -> None:
    """Stop `proc` politely, then firmly; returns None for the caller's handle."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def remove_dir(path: Path | None) -> None:
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(text: str, lines: int = 3) -> str:
    """The last `lines` lines of a log, on one line."""
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def _die_with_parent() -> None:
    # Linux: the server gets SIGTERM if the Python process dies without cleaning up.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass
