"""Fit speed of the baselines: the vectorised multi-series SeasonalProfile against the target
(10,000 series x 28 days at 5m in at most 30 s), and fit/score rates of every estimator
against statsmodels' STL run per series.

Data: synthetic SLI-like series (daily and weekly rhythm, growth, noise), 8064 points each
(28 days at 5m). Fit times are the median of `--reps` runs; rates are series per second
(fits/s: series fitted, scores/s: whole 28-day series scored, causally).
``statsmodels STL`` is ``STL(y, period=288).fit()`` with its defaults, the usual way to
decompose one series; the ratio column is each row's rate over that rate.

Run: ``.venv/bin/python bench/bench_baselines.py [--reps 3] [--series 10000]``. Not a test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from statsmodels.tsa.seasonal import STL

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imanalytics.baselines import (  # noqa: E402
    AdaptiveBand,
    BaselineWarning,
    MultiSLIIsolationForest,
    QuantileGBM,
    SeasonalProfile,
    STLBands,
    WeekOverWeekZScore,
    auto,
)

POINTS = 28 * 288
START = pd.Timestamp("2026-01-05T00:00:00Z")  # a Monday
TARGET_S = 30.0


def synthetic(n_series: int, seed: int = 0, points: int = POINTS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(points)
    day = 1 + 0.6 * np.sin(2 * np.pi * (t / 288 - 0.4))
    week = np.where((t // 288) % 7 >= 5, 0.8, 1.0)
    shape = (day * week * (1 + 0.0005 * t / 288))[:, None]
    scale = rng.uniform(50, 5000, n_series)[None, :]
    values = shape * scale * (1 + 0.05 * rng.standard_normal((points, n_series)))
    index = pd.date_range(START, periods=points, freq="5min", tz="UTC", name="timestamp")
    return pd.DataFrame(values, index=index, columns=[f"s{i}" for i in range(n_series)])


def timed(fn, reps: int) -> float:
    runs = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def per_series(make, frame: pd.DataFrame, n: int, reps: int):
    """(fit seconds, score seconds) for `n` single-series fits and scores."""
    columns = list(frame.columns[:n])
    models = {}

    def fit():
        for c in columns:
            models[c] = make().fit(frame[c])

    def score():
        for c in columns:
            models[c].score(frame[c])

    return timed(fit, reps), timed(score, reps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--series", type=int, default=10_000)
    args = parser.parse_args()
    warnings.simplefilter("ignore", BaselineWarning)
    print(f"building {args.series:,} series x {POINTS:,} points ...", file=sys.stderr)
    big = synthetic(args.series)
    small = big.iloc[:, :60]
    rows = []

    seconds = timed(lambda: SeasonalProfile().fit(big), args.reps)
    subset = big.iloc[:, :200]
    model = SeasonalProfile().fit(subset)
    score_s = timed(lambda: model.score(subset), 1)
    rows.append(("SeasonalProfile, DataFrame (vectorised)", args.series, seconds, 200, score_s))

    cases = [
        ("SeasonalProfile, per series", SeasonalProfile, 40),
        ("WeekOverWeekZScore", WeekOverWeekZScore, 40),
        ("AdaptiveBand", AdaptiveBand, 40),
        ("auto", None, 20),
        ("STLBands (robust, R-style jumps)", STLBands, 10),
        ("QuantileGBM", QuantileGBM, 4),
    ]
    for name, cls, n in cases:
        make = (lambda: _Auto()) if cls is None else cls
        print(f"timing {name} ...", file=sys.stderr)
        fit_s, score_s = per_series(make, small, n, args.reps)
        rows.append((name, n, fit_s, n, score_s))

    print("timing MultiSLIIsolationForest ...", file=sys.stderr)
    frames = [small.iloc[:, 6 * i:6 * i + 6] for i in range(3)]
    fit_s = timed(lambda: [MultiSLIIsolationForest().fit(f) for f in frames], args.reps)
    forests = [MultiSLIIsolationForest().fit(f) for f in frames]
    score_s = timed(lambda: [m.score(f) for m, f in zip(forests, frames, strict=True)], 1)
    rows.append(("MultiSLIIsolationForest (6 SLIs)", 3, fit_s, 3, score_s))

    print("timing statsmodels STL ...", file=sys.stderr)
    stl_n = 3
    stl_s = timed(lambda: [STL(small.iloc[:, i].to_numpy(), period=288).fit()
                           for i in range(stl_n)], args.reps)
    rows.append(("statsmodels STL per series (defaults)", stl_n, stl_s, 0, float("nan")))
    print_table(rows, stl_n / stl_s, args)


class _Auto:
    def fit(self, series):
        return auto(series)


def print_table(rows, stl_rate: float, args) -> None:
    print(f"\n{POINTS:,} points per series (28 days at 5m), median of {args.reps} runs\n")
    header = (f"{'estimator':<40} {'series':>7} {'fit s':>8} {'fits/s':>9} {'vs STL':>8} "
              f"{'scores/s':>9}")
    print(header)
    print("-" * len(header))
    for name, n, fit_s, scored, score_s in rows:
        rate = n / fit_s
        score_rate = "-" if np.isnan(score_s) else f"{scored / score_s:,.1f}"
        print(f"{name:<40} {n:>7,} {fit_s:>8.2f} {rate:>9,.1f} {rate / stl_rate:>7,.0f}x "
              f"{score_rate:>9}")
    vectorised = rows[0]
    verdict = "meets" if vectorised[2] <= TARGET_S else "MISSES"
    print(f"\nSeasonalProfile.fit on {vectorised[1]:,} series: {vectorised[2]:.1f} s "
          f"({verdict} the {TARGET_S:.0f} s target)")


if __name__ == "__main__":
    main()
