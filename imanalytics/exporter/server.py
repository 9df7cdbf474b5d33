"""`python -m imanalytics serve-baselines`: load the baseline directory, check every model
once, then serve ``/metrics`` until SIGTERM or Ctrl-C."""

from __future__ import annotations

import math
import signal
import sys
import threading
from pathlib import Path

import pandas as pd
from prometheus_client import CollectorRegistry, start_http_server

from .collector import BandCollector, bands_at
from .live import LiveLevels
from .store import ExporterError, Store, load_baselines

DEFAULT_PORT = 9468


def open_store(directory: str | Path, trusted: bool = False) -> Store:
    """Load the directory and compute every band once, so a model that cannot predict is an
    error at start, not a failing scrape or a silent band later."""
    store = load_baselines(directory, trusted)
    now = pd.DatetimeIndex([pd.Timestamp.now(tz="UTC")])
    try:
        bands = [(series, band) for series, band, _ in bands_at(store, now)]
    except Exception as exc:  # any estimator failure: name the directory, keep one line
        raise ExporterError(f"{store.directory}: a model cannot predict its bands: "
                            f"{type(exc).__name__}: {exc}") from None
    for series, band in bands:
        if not all(math.isfinite(v) for v in band.values()):
            # PromQL-native baselines predict from their fitted window only: ship them as rules.
            raise ExporterError(f"model for {series.describe()} ({series.file}) predicts no "
                                f"band now (NaN); a {series.model or 'model'} of this kind "
                                "ships as PromQL rules, not through the exporter")
    return store


def registry_for(store: Store, live: LiveLevels | None = None) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BandCollector(store, live=live))
    return registry


def serve(directory: str | Path, port: int = DEFAULT_PORT, host: str = "127.0.0.1",
          prometheus: str | None = None, stop: threading.Event | None = None,
          trusted: bool = False) -> None:
    """Serve the bands of `directory` on http://host:port/metrics until `stop` is set
    (by default: until SIGTERM or Ctrl-C); with `prometheus` (a URL) bands follow the
    SLIs' recent level read from it."""
    store = open_store(directory, trusted)
    live = LiveLevels(prometheus) if prometheus else None
    try:
        server, thread = start_http_server(port, addr=host, registry=registry_for(store, live))
    except OSError as exc:
        raise ExporterError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    stop = stop or _stop_on_signals()
    slis = sorted({s.sli for s in store.series})
    level = f"; levels from {live.source.url}" if live else ""
    print(f"serving {len(store.series)} baseline series ({len(store.models)} models; SLIs "
          f"{', '.join(slis)}{level}) on http://{host}:{port}/metrics", flush=True)
    try:
        while not stop.wait(1.0):  # a timed wait lets signal handlers run promptly
            pass
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        if live is not None:
            live.close()
    print("stopped", file=sys.stderr, flush=True)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop
