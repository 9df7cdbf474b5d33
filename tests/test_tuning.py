"""Interactive tuning: the same numbers as the review's backtest, cheap settings over bands
fitted once, rules that pass promtool, and a panel whose chart follows its controls."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imanalytics.display import duration
from imanalytics.review import backtest
from imanalytics.rules import check_rules, run_rule_tests
from imanalytics.sandbox.workload import simulate
from imanalytics.slis import slis
from imanalytics.tuning import Setting, Tuner
from imanalytics.widgets import ALERTS, BAND, THRESHOLD, TuningWidget

SLI = "processing_latency_p99"
DAYS = "6d"  # baselines learn on the first half: three days of daily rhythm


@pytest.fixture(scope="module")
def week():
    """Six days of two instances, with latency incidents in the judged half."""
    return simulate(instances=2, days=6, seed=2, end="2026-03-02T00:00:00Z")


@pytest.fixture(scope="module")
def tuner(week):
    return Tuner.load(week, SLI, DAYS)


def test_settings_score_like_the_review(tuner, week):
    assert tuner.incidents
    sli = next(s for s in slis() if s.key == SLI)
    review = backtest(sli, tuner.frame, week.incidents, strategies=("adaptive_band",))
    for row in review.candidates.itertuples():
        mine = tuner.evaluate(Setting(row.strategy, row.level, row._4)).metrics
        for column in ("alerts", "pages_per_week", "flaps", "recall", "mean_ttd_min"):
            assert mine[column] == pytest.approx(getattr(row, column), nan_ok=True), \
                (row.candidate, column)


def test_bands_are_fitted_once(tuner):
    tuner.prepare("adaptive_band")
    fitted = tuner._fitted["adaptive_band"]
    for k in (2.0, 4.0, 8.0):
        tuner.evaluate(Setting("adaptive_band", k, "5m"))
    assert tuner._fitted["adaptive_band"] is fitted


def test_a_wider_band_never_pages_more(tuner):
    counts = [tuner.evaluate(Setting("adaptive_band", k, "0m")).metrics["alerts"]
              for k in (0.5, 1.0, 2.0, 4.0, 8.0)]
    assert counts == sorted(counts, reverse=True)
    assert counts[0] > counts[-1]


def test_band_scales_with_sensitivity(tuner):
    column = tuner.frame.columns[0]
    one = tuner.band(Setting("adaptive_band", 1.0, "5m"), column)
    three = tuner.band(Setting("adaptive_band", 3.0, "5m"), column)
    width = (one["upper"] - one["centre"]).dropna()
    assert (width > 0).any()
    np.testing.assert_allclose((three["upper"] - three["centre"]).dropna(), 3 * width)


@pytest.mark.parametrize("strategy, level", [("static", 0.2), ("adaptive_band", 3.0)])
def test_written_rules_pass_promtool(tuner, tmp_path, strategy, level):
    files = tuner.write_rule(Setting(strategy, level, "5m"), tmp_path)
    rules = [p for key, p in files.items() if key != "alert_tests"]
    check_rules(*rules)
    assert "alert_tests" in files
    assert "SUCCESS" in run_rule_tests(files["alert_tests"])


def test_strategies_without_a_rule_form_ship_through_the_exporter(tuner, tmp_path):
    files = tuner.write_rule(Setting("seasonal", 3.0, "5m"), tmp_path)
    assert "imanalytics_baseline_" in files["alerts"].read_text()
    assert (files["baselines"] / "index.json").exists()
    assert files["scrape_config"].exists()
    check_rules(files["alerts"])
    # Writing another setting to the same folder keeps these models.
    tuner.write_rule(Setting("static", 1.0, "5m"), tmp_path)
    assert (files["baselines"] / "index.json").exists()


def test_ttd_reads_as_people_say_it():
    assert duration(5 + 44.5 / 60) == "5 min 44 s"
    assert duration(0.5) == "30 s"
    assert duration(65) == "1 h 05 min"
    assert duration(float("nan")) == "–"


def test_panel_follows_its_controls(week, tmp_path):
    panel = TuningWidget(week, DAYS, sli=SLI, out=tmp_path)
    tuner = panel.tuner
    panel.level.value = 2.0
    upper_at_2 = np.asarray(panel.figure.data[BAND].y, dtype=float)
    panel.level.value = 6.0
    upper_at_6 = np.asarray(panel.figure.data[BAND].y, dtype=float)
    assert np.nanmean(upper_at_6) > np.nanmean(upper_at_2)
    events = tuner.evaluate(panel.setting).events
    bars = [x for x in panel.figure.data[ALERTS].x if x is not None]
    assert len(bars) == 2 * len(events)
    assert f"{len(events)} alerts" in panel.stats.value
    assert "recall" in panel.stats.value and "false pages/week" in panel.stats.value

    panel.strategy.value = "static"
    assert panel.level.value == pytest.approx(tuner.sli.static_threshold)
    assert list(panel.figure.data[THRESHOLD].y) == [tuner.sli.static_threshold] * 2
    assert len(panel.figure.data[BAND].y) == 0
    panel.write.click()
    assert "wrote" in panel.status.value
    assert (tmp_path / f"{SLI}-static.rules.yml").exists()


def test_panel_switches_sli_and_shows_incidents(week):
    panel = TuningWidget(week, DAYS, sli=SLI)
    panel.sli.value = "connections"
    assert panel.tuner.sli.title in panel.figure.layout.title.text
    judged = [i for i in week.incidents if i.kind in panel.tuner.sli.incident_kinds
              and i.start >= panel.tuner.evaluated_from]
    assert len(panel.figure.layout.shapes) == len(judged)


@pytest.mark.prometheus
def test_panel_reads_a_real_prometheus(prom, workload):
    panel = TuningWidget(prom.url, "2d", workload.end, incidents=workload.incidents, sli=SLI,
                         strategy="static")
    local = Tuner.load(workload, SLI, "2d")
    assert panel.tuner.frame.shape == local.frame.shape
    outcome = panel.refresh()
    assert outcome.metrics["alerts"] == local.evaluate(panel.setting).metrics["alerts"]
    assert isinstance(panel.tuner.frame.index, pd.DatetimeIndex)
