"""The NAB scorer: its rules on small cases, and the published Numenta HTM scores."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from imanalytics.baselines import nab

ROOT = nab.data_root()
NEEDS_DATA = pytest.mark.skipif(
    not (ROOT / "published-detections" / "numenta").is_dir(),
    reason=f"NAB data folder {ROOT} (or ${nab.ENV_VAR}) is absent")


def _index(rows: int) -> pd.DatetimeIndex:
    return pd.date_range("2024-01-01", periods=rows, freq="5min", tz="UTC")


def _detect(rows: int, at) -> np.ndarray:
    out = np.zeros(rows, dtype=bool)
    out[list(at)] = True
    return out


WINDOW = [["2024-01-01 10:00:00.000000", "2024-01-01 10:45:00.000000"]]  # rows 120..129


def test_earliest_detection_in_a_window_earns_the_full_reward():
    score = nab.score_file(_index(200), _detect(200, [120, 125]), WINDOW)
    assert score.raw == pytest.approx(1.0)
    assert (score.tp, score.fp, score.fn, score.windows) == (2, 0, 8, 1)


def test_late_detection_earns_less_and_a_miss_costs_the_fn_weight():
    late = nab.score_file(_index(200), _detect(200, [129]), WINDOW).raw
    assert 0 < late < 0.3  # the last row: S(-0.1)/S(-1)
    missed = nab.score_file(_index(200), _detect(200, []), WINDOW,
                            nab.PROFILES["reward_low_FN_rate"])
    assert missed.raw == -2.0


def test_false_positives_cost_less_just_after_a_window_and_nothing_in_probation():
    rows = 200  # probation: the first 30 rows
    before = nab.score_file(_index(rows), _detect(rows, [40, 120]), WINDOW).raw
    assert before == pytest.approx(1.0 - 0.11)
    after = nab.score_file(_index(rows), _detect(rows, [120, 130]), WINDOW).raw
    assert 1.0 - 0.11 < after < 1.0
    assert nab.score_file(_index(rows), _detect(rows, [10, 120]), WINDOW).raw == 1.0


def test_normalised_score_runs_from_null_to_perfect():
    perfect = nab.score_file(_index(200), _detect(200, [120]), WINDOW)
    null = nab.score_file(_index(200), _detect(200, []), WINDOW)
    assert nab.normalised([perfect, null]) == pytest.approx(50.0)


@NEEDS_DATA
def test_scorer_reproduces_the_published_numenta_scores():
    reference = pd.read_csv(ROOT / "reference_scores.csv")
    reference = reference[reference["detector"] == "numenta"]
    published = ROOT / "published-detections" / "numenta"
    thresholds = json.loads((published / "thresholds.json").read_text())["thresholds"]
    windows = nab.read_windows(ROOT)
    assert len(reference) == 18
    for row in reference.itertuples():
        scores = nab.read_series(published / row.file, "anomaly_score")
        got = nab.score_file(scores.index, scores.to_numpy() >= thresholds["standard"],
                             windows[row.file])
        assert round(got.raw, 4) == row.raw_standard_score, row.file
        assert (got.tp, got.fp, got.fn) == (row.TP, row.FP, row.FN), row.file
