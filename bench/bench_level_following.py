"""What level following is worth to an exported seasonal baseline: the review's backtest
(bands that follow the SLI's level, what the exporter serves with ``--prometheus``) against
bands from the fitted state alone (what it serves without).

For each seed, `simulate` two instances over 14 days; each SLI is computed at 1 m with the
local evaluator and backtested (`imanalytics.review.backtest`: fitted on the first half,
judged on the second) with the seasonal strategy at k = 3 and 4, ``for: 5m``. The same
fitted models then alert on `predict_bands` instead of `bands`; pages per week and recall
are counted the same way for both.

Run: ``.venv/bin/python bench/bench_level_following.py [--seeds 31 5]``. Not a test.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imanalytics.promql import evaluate  # noqa: E402
from imanalytics.review.backtest import Candidate, _metrics, backtest  # noqa: E402
from imanalytics.review.events import firing_events  # noqa: E402
from imanalytics.sandbox.workload import simulate  # noqa: E402
from imanalytics.slis import UPPER, slis  # noqa: E402

END = "2026-03-16T00:00:00Z"
LEVELS = (3.0, 4.0)
FOR = "5m"


def fitted_state_z(test, frame: pd.DataFrame) -> pd.DataFrame:
    """Distance beyond the centre on the SLI's bad side, in spreads, from `predict_bands`."""
    z = pd.DataFrame(float("nan"), index=frame.index, columns=frame.columns)
    for column, model in test.estimators["seasonal"].items():
        band = model.predict_bands(frame.index, sensitivity=1.0)
        if test.sli.direction == UPPER:
            z[column] = (frame[column] - band["centre"]) / (band["upper"] - band["centre"])
        else:
            z[column] = (band["centre"] - frame[column]) / (band["centre"] - band["lower"])
    return z


def rows(seed: int):
    fleet = simulate(instances=2, days=14, seed=seed, end=END)
    start = fleet.end - pd.Timedelta("14D")
    for sli in slis():
        frame = evaluate(sli.expr, fleet.series, start, fleet.end, "1m")
        test = backtest(sli, frame, fleet.incidents, strategies=("seasonal",),
                        sensitivities=LEVELS, fors=(FOR,))
        judged = frame.index >= test.evaluated_from
        weeks = (frame.index[-1] - test.evaluated_from) / pd.Timedelta("7D")
        z = fitted_state_z(test, frame)
        for k in LEVELS:
            fired = firing_events((z > k)[judged], pd.Timedelta(FOR))
            alone = _metrics(Candidate(sli.key, "seasonal", k, FOR), fired, test.incidents, weeks)
            c = test.candidates
            follow = c[(c["strategy"] == "seasonal") & (c["level"] == k)].iloc[0]
            yield (seed, sli.key, k, follow["pages_per_week"], alone["pages_per_week"],
                   follow["recall"], alone["recall"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[31, 5])
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print("| seed | SLI | k | pages/week following | pages/week fitted state | "
          "recall following | recall fitted state |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for seed in args.seeds:
        for seed_, sli, k, pf, pa, rf, ra in rows(seed):
            print(f"| {seed_} | {sli} | {k:g} | {pf:.1f} | {pa:.1f} | {rf:.2f} | {ra:.2f} |")


if __name__ == "__main__":
    main()
