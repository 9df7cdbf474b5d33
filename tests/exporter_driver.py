"""The baseline exporter as a process, a live SLI endpoint for a real Prometheus to scrape,
and what the tests ask that Prometheus (queries, rules, alerts) while they wait."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pandas as pd
import yaml
from prometheus_client import CollectorRegistry, Gauge, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from imanalytics.sandbox.processes import free_port, terminate
from imanalytics.slis import slis

WAIT_S = 60.0


class Exporter:
    """``python -m imanalytics serve-baselines`` as a process on a free loopback port."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.extra: list[str] = []  # more command-line options
        self.port = free_port()
        self.process = None
        self.returncode, self.stderr = None, ""

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "imanalytics", "serve-baselines", "--baselines",
             str(self.directory), "--port", str(self.port), *self.extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wait_for(self.metrics, lambda text: text is not None, "the exporter to serve")
        return self

    def metrics(self) -> str | None:
        if self.process.poll() is not None:
            raise AssertionError(f"the exporter exited: {self.process.stderr.read()}")
        try:
            with urllib.request.urlopen(f"http://{self.target}/metrics", timeout=5) as r:
                return r.read().decode()
        except OSError:
            return None

    def bands(self) -> dict[tuple, float]:
        """(edge, sorted labels) -> value, from one scrape."""
        out = {}
        for family in text_string_to_metric_families(self.metrics()):
            if family.name.startswith("imanalytics_baseline_") and family.name.rsplit(
                    "_", 1)[-1] in ("lower", "centre", "upper"):
                for s in family.samples:
                    out[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return out

    def sensitivities(self) -> dict[tuple, float]:
        """Sorted labels -> the sensitivity each series' band is served at."""
        return {tuple(sorted(s.labels.items())): s.value
                for family in text_string_to_metric_families(self.metrics())
                if family.name == "imanalytics_baseline_sensitivity" for s in family.samples}

    def gauge(self, name: str) -> float:
        """The value of the exporter's own gauge ``imanalytics_baseline_<name>``."""
        for family in text_string_to_metric_families(self.metrics()):
            if family.name == f"imanalytics_baseline_{name}":
                return family.samples[0].value
        raise AssertionError(f"imanalytics_baseline_{name} is not served")

    def stop(self) -> None:
        if self.process is not None:
            terminate(self.process, timeout=10)
            self.returncode, self.stderr = self.process.returncode, self.process.stderr.read()
            self.process.stderr.close()
            self.process = None

    def __exit__(self, *exc):
        self.stop()


class SLISource:
    """The SLIs as a live prometheus-client endpoint the test sets, one gauge per SLI, and
    the recording rules that turn them into the SLIs' recorded series (as in production,
    where recording rules compute them from the service's metrics)."""

    def __init__(self, keys):
        self.slis = [s for s in slis() if s.key in keys]
        self.registry = CollectorRegistry()
        self.gauges = {s.key: Gauge(f"test_sli_{s.key}", s.title, ["job", "instance"],
                                    registry=self.registry) for s in self.slis}
        self.port = free_port()

    def recording_rules(self, path: Path) -> Path:
        rules = [{"record": s.record, "expr": f"test_sli_{s.key}"} for s in self.slis]
        path.write_text(yaml.safe_dump({"groups": [{"name": "slis", "rules": rules}]}))
        return path

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def set(self, band_labels: tuple, value: float) -> None:
        labels = dict(band_labels)
        gauge = self.gauges[labels["sli"]]
        gauge.labels(job=labels["job"], instance=labels["instance"]).set(value)

    def remove(self, band_labels: tuple) -> None:
        """Stop serving the SLI series of `band_labels`: Prometheus marks it stale."""
        labels = dict(band_labels)
        self.gauges[labels["sli"]].remove(labels["job"], labels["instance"])

    def __enter__(self):
        self.server, self.thread = start_http_server(self.port, "127.0.0.1", self.registry)
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def api(prom, path: str, **params):
    url = f"{prom.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=10) as reply:
        return json.load(reply)["data"]


def vector(prom, expr: str) -> dict[tuple, float]:
    found = api(prom, "query", query=expr)["result"]
    return {tuple(sorted((k, v) for k, v in r["metric"].items() if k != "__name__")):
            float(r["value"][1]) for r in found}


def last_evaluation(prom) -> float:
    groups = api(prom, "rules")["groups"]
    times = [pd.Timestamp(g["lastEvaluation"]).timestamp() for g in groups]
    return min(times) if times else 0.0


def firing(prom) -> set[tuple[str, str]]:
    return {(a["labels"]["alertname"], a["labels"].get("instance"))
            for a in api(prom, "alerts")["alerts"]
            if a["state"] == "firing" and a["labels"]["alertname"] != "ImBaselineExporterDown"}


def wait_for(probe, done, what: str):
    deadline = time.monotonic() + WAIT_S
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {WAIT_S:.0f}s waiting for {what} "
                                 f"(last: {value!r})")
        time.sleep(0.2)
