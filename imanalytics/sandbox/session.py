"""A Prometheus for notebooks: the server in ``PROMETHEUS_URL``, or a fresh sandbox.

    from imanalytics.sandbox.session import open_prometheus
    prom = open_prometheus(days=7)      # prom.url, prom.workload (None for a real server)

`make lab` starts one sandbox for all notebooks and sets ``PROMETHEUS_URL`` and
``IMANALYTICS_INCIDENTS`` (its ground truth) for them.

The sandbox is stopped when the interpreter (the notebook kernel) exits.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

from .incidents import Incident, read_incidents
from .server import PrometheusSandbox
from .workload import Workload, simulate


@dataclass
class PrometheusSession:
    url: str
    workload: Workload | None = None
    sandbox: PrometheusSandbox | None = None

    @property
    def incidents(self) -> list[Incident]:
        """Ground truth: the simulator's, or the file in ``IMANALYTICS_INCIDENTS`` if set."""
        if self.workload is not None:
            return list(self.workload.incidents)
        path = os.environ.get("IMANALYTICS_INCIDENTS")
        return read_incidents(path) if path else []

    def close(self) -> None:
        if self.sandbox is not None:
            self.sandbox.stop()

    def __repr__(self) -> str:
        kind = "sandbox" if self.sandbox else "server"
        return f"PrometheusSession({kind} at {self.url})"


def open_prometheus(days: int = 7, instances: int = 3, seed: int = 0,
                    end=None) -> PrometheusSession:
    """``PROMETHEUS_URL`` if set, else a sandbox serving a simulated IM fleet."""
    url = os.environ.get("PROMETHEUS_URL")
    if url:
        return PrometheusSession(url.rstrip("/"))
    workload = simulate(instances=instances, days=days, seed=seed, end=end)
    sandbox = PrometheusSandbox(workload.series).start()
    atexit.register(sandbox.stop)
    return PrometheusSession(sandbox.url, workload, sandbox)
