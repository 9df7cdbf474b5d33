"""The exporter's multi-SLI anomaly score: read from a real Prometheus holding the SLIs,
equal to the forest's own score; absent (never 0) without the data; its alert rule."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from imanalytics.baselines import MultiSLIIsolationForest
from imanalytics.exporter import ServedSeries, open_store, save_baselines
from imanalytics.exporter.collector import BandCollector
from imanalytics.exporter.live import LiveLevels
from imanalytics.exporter.score import scores_at
from imanalytics.frames import parse_series
from imanalytics.promql import evaluate
from imanalytics.rules import check_rules, run_rule_tests
from imanalytics.samples import NAME
from imanalytics.sandbox.processes import free_port
from imanalytics.slis import slis

KEYS = ("e2e_latency_p95", "processing_latency_p99")


@pytest.fixture(scope="module")
def forest_dir(workload, tmp_path_factory):
    """A forest fitted on the first day of two SLIs of one instance, served from a directory."""
    end = pd.Timestamp(workload.end)
    chosen = {s.key: s for s in slis() if s.key in KEYS}
    frames = {k: evaluate(s.expr, workload.series, end - pd.Timedelta("2D"), end, "1m")
              for k, s in chosen.items()}
    column = {k: f.columns[0] for k, f in frames.items()}
    frame = pd.DataFrame({k: frames[k][column[k]] for k in KEYS})
    model = MultiSLIIsolationForest(n_estimators=30, season="none").fit(
        frame.loc[:frame.index[0] + pd.Timedelta("1D")].dropna())
    pairs = []
    for k in KEYS:
        labels = {n: v for n, v in parse_series(column[k]).items() if n != NAME}
        pairs.append((ServedSeries(k, labels, "forest", 4.0, "upper", column=k,
                                   query=chosen[k].expr), model))
    d = tmp_path_factory.mktemp("forest") / "b"
    save_baselines(d, pairs)
    return d, model, frame


def test_the_score_is_the_forests_own_on_the_data_prometheus_holds(prom, workload, forest_dir,
                                                                   capsys):
    d, model, frame = forest_dir
    store = open_store(d, trusted=True)
    now = pd.Timestamp(workload.end) - pd.Timedelta("3h") + pd.Timedelta("25s")
    [(labels, score, limit)] = list(scores_at(store, now, LiveLevels(prom.url)))
    minute = now.floor("1min")
    window = frame.loc[minute - pd.Timedelta("1D") + pd.Timedelta("1min"):minute]
    assert score == pytest.approx(float(model.score(window).iloc[-1]), rel=1e-9)
    assert 0.0 <= score <= 1.0 and limit == model.default_threshold
    assert labels["strategy"] == "forest" and "sli" not in labels and "instance" in labels
    assert not capsys.readouterr().err


def test_without_prometheus_or_data_the_score_is_absent_not_zero(workload, forest_dir, capsys):
    d, _, _ = forest_dir
    store = open_store(d, trusted=True)
    now = pd.Timestamp(workload.end) - pd.Timedelta("3h")
    nowhere = LiveLevels(f"http://127.0.0.1:{free_port()}")  # nothing listens
    for live, said in ((None, False), (nowhere, True), (nowhere, False)):
        [(_, score, limit)] = list(scores_at(store, now, live))
        assert score is None and limit == 0.5
        assert ("no anomaly score of" in capsys.readouterr().err) == said  # once
    names = {s.name: s.samples for m in BandCollector(store, clock=now.timestamp,
                                                       live=None).collect() for s in [m]}
    assert names["imanalytics_baseline_anomaly_score"] == []
    assert len(names["imanalytics_baseline_anomaly_threshold"]) == 1


def _readme_rules() -> str:
    text = (Path(__file__).parent.parent / "README.md").read_text()
    part = text.split("**The multi-SLI anomaly score.**", 1)[1]
    return part.split("```yaml\n", 1)[1].split("```", 1)[0]


def test_the_readme_alert_rules_pass_promtool(tmp_path):
    rules = tmp_path / "score.rules.yml"
    rules.write_text(_readme_rules())
    check_rules(rules)
    series = '{job="im",instance="a",strategy="forest"}'
    cases = {"rule_files": [str(rules)], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [
            {"series": f"imanalytics_baseline_anomaly_threshold{series}", "values": "0.5x45"},
            # normal for 5 minutes, anomalous for 10, then missing
            {"series": f"imanalytics_baseline_anomaly_score{series}",
             "values": "0.1x5 0.9x10 _x30"}],
        "alert_rule_test": [
            {"eval_time": "4m", "alertname": "ImSLIsAnomalousTogether", "exp_alerts": []},
            {"eval_time": "12m", "alertname": "ImSLIsAnomalousTogether", "exp_alerts": [
                {"exp_labels": {"severity": "warning", "job": "im", "instance": "a",
                                "strategy": "forest"}}]},
            {"eval_time": "12m", "alertname": "ImAnomalyScoreMissing", "exp_alerts": []},
            {"eval_time": "40m", "alertname": "ImAnomalyScoreMissing", "exp_alerts": [
                {"exp_labels": {"severity": "info", "job": "im", "instance": "a",
                                "strategy": "forest"}}]}]}]}
    tests = tmp_path / "score.rules.test.yml"
    tests.write_text(yaml.safe_dump(cases))
    run_rule_tests(tests)
