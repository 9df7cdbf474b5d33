"""Detection smoke test on the simulator: `auto` baselines catch the incidents of their SLIs
on a small fleet clearly better than chance, and much better than the same alerts on
shuffled scores."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from imanalytics.baselines import AlertPolicy, BaselineWarning, auto, quality
from imanalytics.promql import evaluate
from imanalytics.sandbox.workload import simulate
from imanalytics.slis import slis

END = pd.Timestamp("2026-02-02T00:00:00Z")
SEED = 7  # not one of the benchmark's tuning or evaluation seeds
TRAIN = pd.Timedelta(days=6)


@pytest.fixture(scope="module")
def fleet():
    wl = simulate(instances=3, days=10, seed=SEED, end=END)
    split = wl.start + TRAIN
    incidents = [i for i in wl.incidents if i.start >= split]
    frames = {}
    for sli in slis():
        frame = evaluate(sli.expr, wl.series, wl.start, wl.end, "1m")
        volume = evaluate(sli.volume, wl.series, wl.start, wl.end, "1m") if sli.volume else None
        frames[sli.key] = (sli, frame, volume)
    return frames, incidents, split


def _detect(frames, incidents, split, shuffle: bool):
    """Quality of the alerts, and the share of series-time spent alerting."""
    rng = np.random.default_rng(0)
    matchings, alerting, watched = [], pd.Timedelta(0), pd.Timedelta(0)
    for sli, frame, volume in frames.values():
        scores = {}
        for column in frame.columns:
            series = frame[column]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", BaselineWarning)
                model = auto(series[series.index < split]).set_params(direction=sli.direction)
            s = model.score(series)
            scores[column] = s[s.index >= split]
            if shuffle:
                scores[column] = pd.Series(rng.permutation(scores[column].to_numpy()),
                                           index=scores[column].index)
        policy = AlertPolicy.for_sli(sli, volume_floor=0.05 if sli.volume else None)
        alerts = policy.alerts(pd.DataFrame(scores), volume)
        alerting += (alerts["end"] - alerts["start"]).sum()
        watched += len(scores) * (frame.index[-1] - split)
        matchings.append(quality.match(alerts, incidents, kinds=sli.incident_kinds))
    return quality.summary(quality.merge(matchings)), alerting / watched


def test_auto_baselines_detect_simulated_incidents(fleet):
    frames, incidents, split = fleet
    assert len(incidents) >= 4
    q, busy = _detect(frames, incidents, split, shuffle=False)
    assert q.recall >= 0.75, q
    assert q.precision >= 0.5, q
    assert q.mean_ttd < pd.Timedelta("20min"), q
    assert busy < 0.02  # alerting all the time would "detect" everything
    chance, _ = _detect(frames, incidents, split, shuffle=True)
    assert chance.f1 < q.f1 - 0.3, (chance, q)
