"""`python -m imanalytics serve-baselines`: load the baseline directory, check every model
once, then serve ``/metrics`` until SIGTERM or Ctrl-C; SIGHUP reloads the directory."""

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
from .score import forests
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


def registry_for(store: Store, live: LiveLevels | None = None,
                 collector: BandCollector | None = None) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector or BandCollector(store, live=live))
    return registry


def serve(directory: str | Path, port: int = DEFAULT_PORT, host: str = "127.0.0.1",
          prometheus: str | None = None, stop: threading.Event | None = None,
          trusted: bool = False, reload: threading.Event | None = None) -> None:
    """Serve the bands of `directory` on http://host:port/metrics until `stop` is set
    (by default: until SIGTERM or Ctrl-C); with `prometheus` (a URL) bands follow the
    SLIs' recent level read from it. Setting `reload` (by default: SIGHUP) reads the
    directory again; a directory that fails to load keeps the previous bands served."""
    store = open_store(directory, trusted)
    live = LiveLevels(prometheus) if prometheus else None
    collector = BandCollector(store, live=live)
    try:
        server, thread = start_http_server(port, addr=host,
                                           registry=registry_for(store, collector=collector))
    except OSError as exc:
        raise ExporterError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    if stop is None:
        stop, hangup = _signal_events()
        reload = reload or hangup
    reload = reload or threading.Event()
    level = f"; levels from {live.source.url}" if live else ""
    print(f"serving {_describe(store)}{level} on http://{host}:{port}/metrics", flush=True)
    _without_scores(store, live)
    try:
        while not stop.wait(1.0):  # a timed wait lets signal handlers run promptly
            if reload.is_set():
                reload.clear()
                _reload(collector, directory, trusted)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        if live is not None:
            live.close()
    print("stopped", file=sys.stderr, flush=True)


def _reload(collector: BandCollector, directory, trusted: bool) -> None:
    """Swap in the directory as it is now; on any error keep serving what was loaded, say
    why on stderr and in ``imanalytics_baseline_reload_success``."""
    try:
        store = open_store(directory, trusted)
    except ExporterError as exc:
        collector.reload_failed()
        print(f"reload failed, still serving the previous baselines: {exc}", file=sys.stderr,
              flush=True)
        return
    collector.swap(store)
    print(f"reloaded: serving {_describe(store)}", flush=True)
    _without_scores(store, collector.live)


def _without_scores(store: Store, live) -> None:
    """Say that forests' anomaly scores need --prometheus, when they are not served."""
    count = len(forests(store))
    if live is None and count:
        print(f"serve-baselines: no imanalytics_baseline_anomaly_score for the {count} "
              "isolation forest(s): the score is read from the SLIs' recent values, which "
              "needs --prometheus URL (their thresholds and bands are served)",
              file=sys.stderr, flush=True)


def _describe(store: Store) -> str:
    slis = sorted({s.sli for s in store.series})
    return (f"{len(store.series)} baseline series ({len(store.models)} models; SLIs "
            f"{', '.join(slis)})")


def _signal_events() -> tuple[threading.Event, threading.Event]:
    """(stop on SIGTERM or Ctrl-C, reload on SIGHUP)."""
    stop, reload = threading.Event(), threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: reload.set())
    return stop, reload
