"""What serving baselines costs the exporter: start-up (read the directory, check every
band) and one scrape (``/metrics`` text for every band), by number of served series.

Three ways to serve the same bands side by side: one `SeasonalProfile` per series (what a
review writes), one wide `SeasonalProfile` whose columns serve all the series (the
`column` field of ``index.json``), and one model per series following the recent level
read from a real Prometheus (``--prometheus``: a sandbox holding the series' last day as
the recorded SLI; one range query per scrape). Series are 28 days at 1 m of a daily
rhythm with noise. Start-up is one measurement; scrapes are the median of 9, in this
process.

A second table: the multi-SLI isolation forest's anomaly score, one forest of `--slis`
SLIs per instance (fitted once on 7 days and copied per instance: the scrape costs the
same as distinct fits), scraped with the score off (no ``--prometheus``: bands from the
fitted state and the thresholds) and on (``--prometheus`` pointing at a sandbox holding the
SLIs' last day as recorded series: one range query per SLI and scrape, then each forest
scores its day), in one run.

Run: ``.venv/bin/python bench/bench_exporter.py [--series 10 100 500] [--instances 1 10 100]
[--slis 3]``. Not a test.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from prometheus_client import CollectorRegistry, generate_latest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imanalytics.baselines import MultiSLIIsolationForest, SeasonalProfile  # noqa: E402
from imanalytics.exporter import ServedSeries, open_store, save_baselines  # noqa: E402
from imanalytics.exporter.collector import BandCollector  # noqa: E402
from imanalytics.exporter.live import LiveLevels  # noqa: E402
from imanalytics.exporter.server import registry_for  # noqa: E402
from imanalytics.samples import NAME, Series  # noqa: E402
from imanalytics.sandbox import PrometheusSandbox  # noqa: E402

END = pd.Timestamp("2026-03-02T00:00:00Z")
SCRAPES = 9
RECORD = "job_instance:bench_sli:rate5m"


def frame(n: int, days: int = 28) -> pd.DataFrame:
    index = pd.date_range(end=END, periods=days * 1440, freq="1min", tz="UTC")
    day = (index - index[0]) / pd.Timedelta("1D")
    rng = np.random.default_rng(0)
    rhythm = 100 + 40 * np.sin(2 * np.pi * day.to_numpy())
    values = rhythm[:, None] * (1 + 0.05 * rng.standard_normal((len(index), n)))
    return pd.DataFrame(values, index=index, columns=[f"i{j}" for j in range(n)])


def served(column: str, wide: bool) -> ServedSeries:
    return ServedSeries("bench", {"job": "im", "instance": column}, "seasonal", 4.0, "upper",
                        column=column if wide else None, query=RECORD)


def last_day(data: pd.DataFrame, record=lambda column: RECORD,
             instance=lambda column: column) -> list[Series]:
    """The data's last day as the recorded series `record(column)` of `instance(column)`."""
    day = data[data.index > END - pd.Timedelta("1D")]
    t = day.index.as_unit("ms").asi8
    return [Series({NAME: record(c), "job": "im", "instance": instance(c)}, t, day[c].to_numpy())
            for c in day.columns]


def measure(directory: Path, url: str | None = None, trusted: bool = False
            ) -> tuple[float, float, str]:
    """(start-up s, median scrape s, the last scrape's text)."""
    began = time.perf_counter()
    store = open_store(directory, trusted)
    if url is None:
        registry = registry_for(store)
    else:  # scrapes at the end of the data, which the sandbox holds
        registry = CollectorRegistry(auto_describe=False)
        registry.register(BandCollector(store, clock=END.timestamp, live=LiveLevels(url)))
    start = time.perf_counter() - began
    times = []
    for _ in range(SCRAPES):
        began = time.perf_counter()
        text = generate_latest(registry).decode()
        times.append(time.perf_counter() - began)
    return start, float(np.median(times)), text


def count(text: str, prefix: str, suffix: str = "") -> int:
    return sum(line.startswith(prefix) and line.endswith(suffix) for line in text.splitlines())


def bands_table(sizes: list[int]) -> None:
    print("| series | layout | models | start-up s | scrape ms |")
    print("| ---: | --- | ---: | ---: | ---: |")
    for n in sizes:
        data = frame(n)
        wide = SeasonalProfile(direction="upper").fit(data)
        single = {c: SeasonalProfile(direction="upper").fit(data[c]) for c in data.columns}
        with tempfile.TemporaryDirectory() as tmp:
            layouts = {
                "one model per series": [(served(c, False), m) for c, m in single.items()],
                "one wide model": [(served(c, True), wide) for c in data.columns],
            }
            for name, pairs in layouts.items():
                directory = save_baselines(Path(tmp) / name.replace(" ", "-"), pairs)
                start, scrape, _ = measure(directory)
                print(f"| {n} | {name} | {n if 'per' in name else 1} | {start:.2f} | "
                      f"{scrape * 1000:.1f} |")
            with PrometheusSandbox(last_day(data)) as prom:
                start, scrape, text = measure(Path(tmp) / "one-model-per-series", prom.url)
            following = count(text, "imanalytics_baseline_following{", " 1.0")
            if following != n:
                raise SystemExit(f"only {following} of {n} bands followed the level")
            print(f"| {n} | one model per series, following | {n} | {start:.2f} | "
                  f"{scrape * 1000:.1f} |")


def score_table(instances: list[int], slis: int) -> None:
    """Scrape time with the forests' anomaly score off and on, side by side."""
    print("| SLIs | instances (forests) | series | start-up s | scrape ms, score off | "
          "scrape ms, score on | scores served |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    data = frame(slis, days=7)
    forest = MultiSLIIsolationForest().fit(data)
    for n in instances:
        pairs = []
        for i in range(n):
            model = copy.deepcopy(forest)  # a forest per instance, as a review fits them
            pairs += [(ServedSeries(c, {"job": "im", "instance": f"im-{i}"}, "forest", 4.0,
                                    "upper", column=c, query=f"job_instance:bench_{c}:rate5m"),
                       model) for c in data.columns]
        history = [s for i in range(n) for s in last_day(
            data, lambda c: f"job_instance:bench_{c}:rate5m", lambda c, i=i: f"im-{i}")]
        with tempfile.TemporaryDirectory() as tmp:
            directory = save_baselines(Path(tmp) / "forests", pairs)
            start, off, _ = measure(directory, trusted=True)
            with PrometheusSandbox(history) as prom:
                _, on, text = measure(directory, prom.url, trusted=True)
        served = count(text, "imanalytics_baseline_anomaly_score{")
        print(f"| {slis} | {n} | {slis * n} | {start:.2f} | {off * 1000:.1f} | "
              f"{on * 1000:.1f} | {served} of {n} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, nargs="*", default=[10, 100, 500])
    parser.add_argument("--instances", type=int, nargs="*", default=[1, 10, 100])
    parser.add_argument("--slis", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.series:
        bands_table(args.series)
    if args.instances:
        score_table(args.instances, args.slis)


if __name__ == "__main__":
    main()
