"""A throwaway Prometheus on loopback over a backfilled TSDB of simulated IM data.

The server is a real ``prometheus`` process: the workload is written as OpenMetrics,
turned into TSDB blocks by ``promtool tsdb create-blocks-from openmetrics``, and
served from a temporary directory that is removed on stop, on Ctrl-C and on errors, and
by the next start when its process was killed outright (see `workdirs`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml
from tqdm import tqdm

from ..errors import ImanalyticsError
from ..samples import Series
from .openmetrics import write_block_files
from .processes import (
    LoopbackProcess,
    free_port,
    port_free,
    spawn,
    tail,
    wait_ready,
)
from .tools import find_tool
from .workdirs import make_workdir

READY_TIMEOUT_S = 60.0


class SandboxError(ImanalyticsError):
    """The sandbox Prometheus could not be built or started."""


class PrometheusSandbox(LoopbackProcess):
    """Backfill `series` into a fresh TSDB and serve it with a real Prometheus.

    Use as a context manager (``with PrometheusSandbox(wl.series) as prom: prom.url``)
    or call `start` / `stop`. `rule_files` are loaded by the server and evaluated from
    start-up on (they see only the live clock, not the backfilled past).
    """

    stop_timeout = 20.0

    def __init__(
        self,
        series: Iterable[Series],
        *,
        rule_files: Sequence[str | Path] = (),
        evaluation_interval: str = "15s",
        lookback_delta: str = "5m",
        workdir: str | Path | None = None,
        extra_args: Sequence[str] = (),
        blocks: Sequence[str | Path] = (),
        scrape_configs: Sequence[dict] = (),
        port: int | None = None,
        external_labels: dict[str, str] | None = None,
    ):
        self.series = list(series)
        self.external_labels = dict(external_labels or {})  # the config's global ones
        self.rule_files = [Path(p).resolve() for p in rule_files]
        self.evaluation_interval = evaluation_interval
        self.lookback_delta = lookback_delta
        self._parent = Path(workdir) if workdir else None
        self.extra_args = list(extra_args)  # more prometheus flags, e.g. --query.max-samples=100
        self.blocks = [Path(b) for b in blocks]  # ready-made TSDB blocks, e.g. backfilled rules
        self.scrape_configs = list(scrape_configs)  # live targets, e.g. the baseline exporter
        self.dir: Path | None = None
        self.requested_port = port  # None: any free loopback port
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self.samples = 0

    @property
    def url(self) -> str:
        if self.port is None:
            raise SandboxError("the sandbox is not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self._require_dir() / "data"

    def start(self) -> PrometheusSandbox:
        with self._stop_on_failure():
            self.dir = make_workdir("imanalytics-sandbox-", self._parent)
            self._backfill()
            self._launch()
        return self

    def __repr__(self) -> str:
        state = self.url if self.port else "stopped"
        return f"PrometheusSandbox({len(self.series)} series, {state})"

    def _require_dir(self) -> Path:
        if self.dir is None:
            raise SandboxError("the sandbox is not started")
        return self.dir

    def _backfill(self) -> None:
        root = self._require_dir()
        staging = root / "openmetrics"
        staging.mkdir()
        files, self.samples = write_block_files(self.series, staging)
        promtool = find_tool("promtool")
        workers = max(1, min(len(files), os.cpu_count() or 1))
        with ThreadPoolExecutor(workers) as pool:
            runs = pool.map(lambda f: _import_block(promtool, f, root / "data"), files)
            for _ in tqdm(runs, total=len(files), desc="backfill", unit="block",
                          disable=not sys.stderr.isatty(), leave=False):
                pass
        shutil.rmtree(staging)
        self._copy_blocks()

    def _copy_blocks(self) -> None:
        for parent in self.blocks:
            for block in sorted(parent.iterdir()):
                if (block / "meta.json").exists():
                    shutil.copytree(block, self.data_dir / block.name)

    def _launch(self) -> None:
        root = self._require_dir()
        config = root / "prometheus.yml"
        config.write_text(yaml.safe_dump(self._config(), sort_keys=False))
        if self.requested_port and not port_free(self.requested_port):
            # Checked first: a server already there would answer the readiness probe.
            raise SandboxError(f"port {self.requested_port} on 127.0.0.1 is in use; "
                               "pick another or leave the port out")
        for _attempt in range(1 if self.requested_port else 3):
            self.port = self.requested_port or free_port()
            self.process = spawn(self._command(config), root / "prometheus.log")
            if self._wait_ready(root / "prometheus.log"):
                return
            if "address already in use" not in (root / "prometheus.log").read_text():
                break
            if self.requested_port:
                raise SandboxError(f"port {self.requested_port} on 127.0.0.1 is in use; "
                                   "pick another or leave the port out")
        log_text = (root / "prometheus.log").read_text()
        raise SandboxError(f"prometheus did not start: {tail(log_text)}")

    def _config(self) -> dict:
        config = {"global": {"evaluation_interval": self.evaluation_interval}}
        if self.external_labels:
            config["global"]["external_labels"] = self.external_labels
        if self.rule_files:
            config["rule_files"] = [str(p) for p in self.rule_files]
        if self.scrape_configs:
            config["scrape_configs"] = self.scrape_configs
        return config

    def _command(self, config: Path) -> list[str]:
        return [
            find_tool("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={self.data_dir}",
            "--storage.tsdb.retention.time=100y",
            f"--web.listen-address=127.0.0.1:{self.port}",
            f"--query.lookback-delta={self.lookback_delta}",
            "--web.enable-lifecycle",
            *self.extra_args,
        ]

    def _wait_ready(self, log: Path) -> bool:
        """Whether the server came up; False when it exited (a port taken meanwhile)."""
        if wait_ready(self.url, self.process, READY_TIMEOUT_S):
            return True
        if self.process.poll() is None:
            raise SandboxError(
                f"prometheus not ready after {READY_TIMEOUT_S:.0f}s: {tail(log.read_text())}")
        self.process = None
        return False


def _import_block(promtool: str, source: Path, data: Path) -> None:
    cmd = [promtool, "tsdb", "create-blocks-from", "openmetrics", "-q", str(source), str(data)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SandboxError(f"promtool backfill of {source.name} failed: "
                           f"{tail(done.stderr or done.stdout)}")
