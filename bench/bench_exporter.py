"""What serving baselines costs the exporter: start-up (read the directory, check every
band) and one scrape (``/metrics`` text for every band), by number of served series.

Two layouts of the same bands side by side: one `SeasonalProfile` per series (what a
review writes) and one wide `SeasonalProfile` whose columns serve all the series (the
`column` field of ``index.json``). Series are 28 days at 1 m of a daily rhythm with noise.
Start-up is one measurement; scrapes are the median of 9, in this process.

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
from prometheus_client import generate_latest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imanalytics.baselines import SeasonalProfile  # noqa: E402
from imanalytics.exporter import ServedSeries, open_store, save_baselines  # noqa: E402
from imanalytics.exporter.server import registry_for  # noqa: E402

END = pd.Timestamp("2026-03-02T00:00:00Z")
SCRAPES = 9


def frame(n: int) -> pd.DataFrame:
    index = pd.date_range(end=END, periods=28 * 1440, freq="1min", tz="UTC")
    day = (index - index[0]) / pd.Timedelta("1D")
    rng = np.random.default_rng(0)
    rhythm = 100 + 40 * np.sin(2 * np.pi * day.to_numpy())
    values = rhythm[:, None] * (1 + 0.05 * rng.standard_normal((len(index), n)))
    return pd.DataFrame(values, index=index, columns=[f"i{j}" for j in range(n)])


def served(column: str, wide: bool) -> ServedSeries:
    return ServedSeries("bench", {"job": "im", "instance": column}, "seasonal", 4.0, "upper",
                        column=column if wide else None)


def measure(directory: Path) -> tuple[float, float]:
    began = time.perf_counter()
    registry = registry_for(open_store(directory))
    start = time.perf_counter() - began
    times = []
    for _ in range(SCRAPES):
        began = time.perf_counter()
        generate_latest(registry)
        times.append(time.perf_counter() - began)
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
                models = len({id(m) for _, m in pairs})
                print(f"| {n} | {name} | {models} | {start:.2f} | {scrape * 1000:.1f} |")


if __name__ == "__main__":
    main()
