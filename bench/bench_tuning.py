"""Time per change of the interactive tuning panel (`imanalytics.widgets.TuningWidget`).

14 days × 3 instances of the simulated fleet at a 1 m step (20,161 points per series), one
SLI, each strategy. For every strategy:

- ``fit``: the first selection of the strategy (bands fitted once, the slow part);
- ``change``: moving the sensitivity or ``for:`` in the panel — evaluation, band, alert bars
  and stats line redrawn in the `FigureWidget` (the Python side of one change);
- ``refit per change``: the same change if the bands were refitted every time (the naive
  panel), for comparison.

Medians of `--changes` changes, alternating sensitivity and ``for:`` moves. The target is
≤ 300 ms per change. Run: ``.venv/bin/python bench/bench_tuning.py``. Not a test.
"""

from __future__ import annotations

import argparse
import statistics
import time

from imanalytics.review.backtest import STRATEGIES, _z_scores
from imanalytics.sandbox.workload import simulate
from imanalytics.tuning import FOR_CHOICES, STATIC
from imanalytics.widgets import TuningWidget


def _ms(action) -> float:
    began = time.perf_counter()
    action()
    return (time.perf_counter() - began) * 1000


def _changes(panel: TuningWidget, count: int) -> list[float]:
    low, high = panel.level.min, panel.level.max
    times = []
    for i in range(count):
        if i % 2:
            value = FOR_CHOICES[i % len(FOR_CHOICES)]
            times.append(_ms(lambda v=value: setattr(panel.for_, "value", v)))
        else:
            value = low + (high - low) * ((i * 7) % count) / count
            times.append(_ms(lambda v=value: setattr(panel.level, "value", v)))
    return times


def _refit(panel: TuningWidget, strategy: str) -> float:
    tuner = panel.tuner

    def change():
        tuner._fitted[strategy] = _z_scores(tuner.sli, tuner.frame, tuner.evaluated_from,
                                            STRATEGIES[strategy])
        panel.refresh()

    return _ms(change)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=30)
    parser.add_argument("--sli", default="processing_latency_p99")
    args = parser.parse_args()
    workload = simulate(instances=3, days=14, seed=0)
    panel = TuningWidget(workload, "14d", sli=args.sli, strategy=STATIC)
    points = len(panel.tuner.frame)
    print(f"{args.sli}: {panel.tuner.frame.shape[1]} series × {points} points; "
          f"median of {args.changes} changes")
    print("| strategy | fit (ms) | change (ms) | max change (ms) | refit per change (ms) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for strategy in (STATIC, *STRATEGIES):
        fit = _ms(lambda s=strategy: setattr(panel.strategy, "value", s))
        times = _changes(panel, args.changes)
        refit = "–" if strategy == STATIC else \
            f"{statistics.median(_refit(panel, strategy) for _ in range(3)):.0f}"
        fit_text = "–" if strategy == STATIC else f"{fit:.0f}"  # static needs no fit
        print(f"| {strategy} | {fit_text} | {statistics.median(times):.1f} | {max(times):.1f} "
              f"| {refit} |")


if __name__ == "__main__":
    main()
