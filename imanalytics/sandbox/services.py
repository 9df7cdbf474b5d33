"""Throwaway Alertmanager and Pushgateway processes on loopback, for tests and demos.

Same lifecycle as the Prometheus sandbox: a free port, a temporary directory, readiness
polled over HTTP, and everything removed on stop, on Ctrl-C and on errors.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from .processes import LoopbackProcess, free_port, spawn, tail, wait_ready
from .server import SandboxError
from .tools import find_tool
from .workdirs import make_workdir

READY_TIMEOUT_S = 30.0


class LoopbackService(LoopbackProcess):
    """Base: subclasses give the binary name and its command-line flags."""

    tool = ""

    def __init__(self):
        self.dir: Path | None = None
        self.port: int | None = None
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise SandboxError(f"{self.tool} is not started")
        return f"http://127.0.0.1:{self.port}"

    def flags(self) -> list[str]:
        raise NotImplementedError

    def prepare(self) -> None:
        """Write files the service needs into `self.dir` before it starts."""

    def start(self):
        with self._stop_on_failure():
            self.dir = make_workdir(f"imanalytics-{self.tool}-")
            self.prepare()
            self.port = free_port()
            self.process = spawn([find_tool(self.tool), *self.flags()],
                                 self.dir / "service.log")
            self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        if not wait_ready(self.url, self.process, READY_TIMEOUT_S):
            log = (self.dir / "service.log").read_text()
            raise SandboxError(f"{self.tool} did not start: {tail(log)}")


class AlertmanagerSandbox(LoopbackService):
    """A real Alertmanager over `config` (YAML text) and extra files such as templates."""

    tool = "prometheus-alertmanager"

    def __init__(self, config: str, files: dict[str, str] | None = None):
        super().__init__()
        self.config, self.files = config, dict(files or {})

    def prepare(self) -> None:
        (self.dir / "alertmanager.yml").write_text(self.config)
        for name, text in self.files.items():
            (self.dir / name).write_text(text)

    def flags(self) -> list[str]:
        return [f"--config.file={self.dir / 'alertmanager.yml'}",
                f"--storage.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address="]


class PushgatewaySandbox(LoopbackService):
    tool = "prometheus-pushgateway"

    def flags(self) -> list[str]:
        return [f"--web.listen-address=127.0.0.1:{self.port}"]
