"""A crafted pool of raw series that exercises the corners of PromQL's semantics: counter
resets, gaps, jittered scrapes, NaN samples, odd histogram bucket layouts, label variety for
vector matching. Deterministic (fixed seed and start)."""

from __future__ import annotations

import numpy as np

from imanalytics.samples import Series

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
HOURS = 4
SCRAPE_MS = 15_000
INSTANCES = ("im-0", "im-1", "im-2", "im-3")
REGIONS = {"im-0": "eu", "im-1": "eu", "im-2": "us", "im-3": "us"}
BUCKETS = ("0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf")


def scrape_times(rng: np.random.Generator, jitter_ms: int, gaps=()) -> np.ndarray:
    """Scrape timestamps every 15 s with per-scrape jitter, minus the (start, end) gaps."""
    base = START_MS + np.arange(HOURS * 3600_000 // SCRAPE_MS, dtype=np.int64) * SCRAPE_MS
    t = base + rng.integers(0, jitter_ms + 1, size=len(base)) if jitter_ms else base
    keep = np.ones(len(t), dtype=bool)
    for lo, hi in gaps:
        keep &= ~((t >= START_MS + lo * 60_000) & (t < START_MS + hi * 60_000))
    return np.unique(t[keep])


def counter(rng, t, rate: float, resets=(), nan_at=()) -> np.ndarray:
    increments = rng.poisson(rate * SCRAPE_MS / 1000, size=len(t)).astype(np.float64)
    values = np.cumsum(increments)
    for index in resets:  # the process restarts: the count starts again from a small value
        values[index:] -= values[index] - rng.integers(0, 3)
    for index in nan_at:
        values[index] = np.nan
    return values


def pool(seed: int = 7) -> list[Series]:
    rng = np.random.default_rng(seed)
    out: list[Series] = []
    out += _messages(rng)
    out += _logins(rng)
    out += _gauges(rng)
    out += _histograms(rng)
    out += _info(rng)
    return out


def _messages(rng) -> list[Series]:
    shapes = {
        "im-0": dict(jitter=0, gaps=(), resets=(), nan_at=()),
        "im-1": dict(jitter=900, gaps=((60, 75),), resets=(300, 301), nan_at=()),
        "im-2": dict(jitter=3000, gaps=((130, 200),), resets=(500,), nan_at=(40, 41, 700)),
        "im-3": dict(jitter=50, gaps=((0, 30), (220, 240)), resets=(100, 600, 601), nan_at=()),
    }
    series = []
    for instance, shape in shapes.items():
        t = scrape_times(rng, shape["jitter"], shape["gaps"])
        resets = [i for i in shape["resets"] if i < len(t)]
        nan_at = [i for i in shape["nan_at"] if i < len(t)]
        for direction, rate in (("in", 40.0), ("out", 25.0)):
            labels = {"__name__": "im_messages_total", "job": "im-server", "instance": instance,
                      "region": REGIONS[instance], "direction": direction}
            series.append(Series(labels, t, counter(rng, t, rate, resets, nan_at)))
    return series


def _logins(rng) -> list[Series]:
    series = []
    for instance in INSTANCES[:3]:
        t = scrape_times(rng, 200)
        for result, rate in (("ok", 5.0), ("fail", 0.3)):
            labels = {"__name__": "im_logins_total", "job": "im-auth", "instance": instance,
                      "result": result}
            series.append(Series(labels, t, counter(rng, t, rate, resets=(len(t) // 2,))))
    # A short-lived series: a handful of samples, then gone.
    t = scrape_times(rng, 0)[100:104]
    series.append(Series({"__name__": "im_logins_total", "job": "im-auth", "instance": "im-9",
                          "result": "ok"}, t, np.array([3.0, 4.0, 4.0, 9.0])))
    return series


def _gauges(rng) -> list[Series]:
    series = []
    for instance in INSTANCES:
        t = scrape_times(rng, 1500, ((90, 100),) if instance == "im-2" else ())
        walk = 500 + np.cumsum(rng.normal(0, 20, size=len(t)))
        walk = np.round(walk, 1) if instance != "im-3" else walk
        if instance == "im-1":
            walk[200:210] = np.nan
        labels = {"__name__": "im_connections", "job": "im-server", "instance": instance,
                  "region": REGIONS[instance]}
        series.append(Series(labels, t, walk))
        for queue in ("push", "mail"):
            depth = np.abs(np.round(rng.normal(10, 8, size=len(t))))
            if instance == "im-0" and queue == "mail":
                depth[::7] = 0.0  # ties for topk / bottomk
            labels = {"__name__": "im_queue_depth", "job": "im-server", "instance": instance,
                      "queue": queue}
            series.append(Series(labels, t, depth))
    # Negative and tiny values, and a constant series.
    t = scrape_times(rng, 0)
    series.append(Series({"__name__": "im_clock_skew_seconds", "job": "im-server",
                          "instance": "im-0"}, t, rng.normal(0, 1e-3, size=len(t))))
    series.append(Series({"__name__": "im_clock_skew_seconds", "job": "im-server",
                          "instance": "im-1"}, t, np.full(len(t), -2.5)))
    return series


def _histograms(rng) -> list[Series]:
    layouts = {
        "im-0": dict(bounds=BUCKETS),
        "im-1": dict(bounds=BUCKETS[:4] + ("1.0", "1") + BUCKETS[5:]),  # "1" spelled twice
        "im-2": dict(bounds=BUCKETS, non_monotonic=True),
        "im-3": dict(bounds=BUCKETS[:-1]),  # no +Inf bucket
        "im-4": dict(bounds=BUCKETS, zero=True),
        "im-5": dict(bounds=("-1", "0", "1", "+Inf")),
    }
    series = []
    for instance, layout in layouts.items():
        t = scrape_times(rng, 700)
        bounds = layout["bounds"]
        per_bucket = rng.poisson(3, size=(len(bounds), len(t))).astype(np.float64)
        cumulative = np.cumsum(np.cumsum(per_bucket, axis=1), axis=0)
        if layout.get("zero"):
            cumulative[:] = 0.0
        if layout.get("non_monotonic"):
            cumulative[2] = cumulative[3] + rng.integers(1, 30, size=len(t))
        for row, bound in enumerate(bounds):
            labels = {"__name__": "im_delivery_seconds_bucket", "job": "im-server",
                      "instance": instance, "le": bound}
            series.append(Series(labels, t, cumulative[row]))
        labels = {"__name__": "im_delivery_seconds_count", "job": "im-server",
                  "instance": instance}
        series.append(Series(labels, t, cumulative[-1].copy()))
    return series


def _info(rng) -> list[Series]:
    series = []
    for instance in INSTANCES:
        t = scrape_times(rng, 0)
        labels = {"__name__": "im_build_info", "job": "im-server", "instance": instance,
                  "version": "1.2" if instance != "im-3" else "1.3",
                  "region": REGIONS[instance]}
        series.append(Series(labels, t, np.ones(len(t))))
    return series
