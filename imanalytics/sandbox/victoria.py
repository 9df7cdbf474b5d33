"""A throwaway VictoriaMetrics on loopback, filled through its import API, and vmalert.

Same lifecycle as the Prometheus sandbox (free port, temporary storage removed on stop,
on Ctrl-C and on errors). The series are sent as JSON lines to ``/api/v1/import`` and
flushed, so they are searchable as soon as `start` returns.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import requests

from ..samples import Series
from .processes import tail
from .server import SandboxError
from .services import LoopbackService
from .tools import find_tool

IMPORT_BYTES = 8 << 20  # one import request carries about this much JSON
IMPORT_TIMEOUT_S = 120.0
REPLAY_TIMEOUT_S = 300.0


class VictoriaMetricsSandbox(LoopbackService):
    """A real single-node VictoriaMetrics serving `series` (``with ... as vm: vm.url``)."""

    tool = "victoria-metrics"

    def __init__(self, series: Iterable[Series]):
        super().__init__()
        self.series = list(series)
        self.samples = 0

    def flags(self) -> list[str]:
        return [f"-storageDataPath={self.dir / 'data'}",
                f"-httpListenAddr=127.0.0.1:{self.port}",
                "-retentionPeriod=100y",  # the simulated past must not expire
                "-search.disableCache",  # imports land in the past, after queries
                "-search.latencyOffset=0s"]

    def start(self) -> VictoriaMetricsSandbox:
        super().start()
        with self._stop_on_failure():
            self.samples = import_series(self.url, self.series)
        return self


def import_series(url: str, series: Iterable[Series]) -> int:
    """Send `series` to VictoriaMetrics' import API and flush it; the samples sent."""
    sent = 0
    for body, count in _batches(series):
        reply = requests.post(f"{url}/api/v1/import", data=body, timeout=IMPORT_TIMEOUT_S)
        if reply.status_code not in (200, 204):
            raise SandboxError(f"VictoriaMetrics import failed (HTTP {reply.status_code}): "
                               f"{reply.text[:200]}")
        sent += count
    requests.get(f"{url}/internal/force_flush", timeout=IMPORT_TIMEOUT_S).raise_for_status()
    return sent


def _batches(series: Iterable[Series]) -> Iterator[tuple[bytes, int]]:
    lines, size, count = [], 0, 0
    for s in series:
        line = json.dumps({"metric": s.labels, "values": s.v.tolist(),
                           "timestamps": s.t.tolist()}).encode()
        lines.append(line)
        size, count = size + len(line), count + len(s)
        if size >= IMPORT_BYTES:
            yield b"\n".join(lines) + b"\n", count
            lines, size, count = [], 0, 0
    if lines:
        yield b"\n".join(lines) + b"\n", count


def check_vmalert_rules(files: Sequence[str | Path]) -> None:
    """Load rule files in vmalert without running them; SandboxError names what it refused."""
    cmd = [find_tool("vmalert"), "-dryRun", "-rule.validateExpressions",
           *[f"-rule={f}" for f in files]]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise SandboxError(f"vmalert refused {', '.join(map(str, files))}: "
                           f"{tail(done.stderr or done.stdout)}")


def replay_rules(url: str, files: Sequence[str | Path], start, end,
                 interval: str = "1m") -> None:
    """Evaluate rule files over ``[start, end]`` of the data at `url` with vmalert's replay
    mode, writing recorded series and ``ALERTS`` back to the same VictoriaMetrics."""
    began = time.monotonic()
    cmd = [find_tool("vmalert"), f"-datasource.url={url}", f"-remoteWrite.url={url}",
           f"-replay.timeFrom={_rfc3339(start)}", f"-replay.timeTo={_rfc3339(end)}",
           f"-evaluationInterval={interval}", "-replay.disableProgressBar",
           "-replay.rulesDelay=0s", *[f"-rule={f}" for f in files]]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=REPLAY_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise SandboxError(f"vmalert replay did not finish in {REPLAY_TIMEOUT_S:.0f}s"
                           ) from None
    if done.returncode != 0:
        raise SandboxError(f"vmalert replay failed after {time.monotonic() - began:.0f}s: "
                           f"{tail(done.stderr or done.stdout)}")
    requests.get(f"{url}/internal/force_flush", timeout=IMPORT_TIMEOUT_S).raise_for_status()


def _rfc3339(t) -> str:
    import pandas as pd

    return pd.Timestamp(t).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
