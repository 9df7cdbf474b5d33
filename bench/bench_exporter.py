"""What serving baselines costs the exporter: start-up (read the directory, check every
band) and one scrape (``/metrics`` text for every band), by number of served series.

Three ways to serve the same bands side by side: one `SeasonalProfile` per series (what a
review writes), one wide `SeasonalProfile` whose columns serve all the series (the
`column` field of ``index.json``), and one model per series following the recent level
read from a real Prometheus (``--prometheus``: a sandbox holding the series' last day as
the recorded SLI; one range query per scrape). Series are 28 days at 1 m of a daily
rhythm with noise. Start-up is one measurement; scrapes are the median of 9, in this
process.

Run: ``.venv/bin/python bench/bench_exporter.py [--series 10 100 500]``. Not a test.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from prometheus_client import CollectorRegistry, generate_latest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imanalytics.baselines import SeasonalProfile  # noqa: E402
from imanalytics.exporter import ServedSeries, open_store, save_baselines  # noqa: E402
from imanalytics.exporter.collector import BandCollector  # noqa: E402
from imanalytics.exporter.live import LiveLevels  # noqa: E402
from imanalytics.exporter.server import registry_for  # noqa: E402
from imanalytics.samples import NAME, Series  # noqa: E402
from imanalytics.sandbox import PrometheusSandbox  # noqa: E402

END = pd.Timestamp("2026-03-02T00:00:00Z")
SCRAPES = 9
RECORD = "job_instance:bench_sli:rate5m"


def frame(n: int) -> pd.DataFrame:
    index = pd.date_range(end=END, periods=28 * 1440, freq="1min", tz="UTC")
    day = (index - index[0]) / pd.Timedelta("1D")
    rng = np.random.default_rng(0)
    rhythm = 100 + 40 * np.sin(2 * np.pi * day.to_numpy())
    values = rhythm[:, None] * (1 + 0.05 * rng.standard_normal((len(index), n)))
    return pd.DataFrame(values, index=index, columns=[f"i{j}" for j in range(n)])


def served(column: str, wide: bool) -> ServedSeries:
    return ServedSeries("bench", {"job": "im", "instance": column}, "seasonal", 4.0, "upper",
                        column=column if wide else None, query=RECORD)


def last_day(data: pd.DataFrame) -> list[Series]:
    day = data[data.index > END - pd.Timedelta("1D")]
    t = day.index.as_unit("ms").asi8
    return [Series({NAME: RECORD, "job": "im", "instance": c}, t, day[c].to_numpy())
            for c in day.columns]


def measure(directory: Path, url: str | None = None) -> tuple[float, float]:
    began = time.perf_counter()
    store = open_store(directory)
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
    following = sum(line.startswith("imanalytics_baseline_following{") and line.endswith(" 1.0")
                    for line in text.splitlines())
    if url is not None and following != len(store.series):
        raise SystemExit(f"only {following} of {len(store.series)} bands followed the level")
    return start, float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, nargs="+", default=[10, 100, 500])
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print("| series | layout | models | start-up s | scrape ms |")
    print("| ---: | --- | ---: | ---: | ---: |")
    for n in args.series:
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
                start, scrape = measure(directory)
                print(f"| {n} | {name} | {n if 'per' in name else 1} | {start:.2f} | "
                      f"{scrape * 1000:.1f} |")
            with PrometheusSandbox(last_day(data)) as prom:
                start, scrape = measure(Path(tmp) / "one-model-per-series", prom.url)
            print(f"| {n} | one model per series, following | {n} | {start:.2f} | "
                  f"{scrape * 1000:.1f} |")


if __name__ == "__main__":
    main()
