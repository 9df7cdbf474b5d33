"""The exporter's multi-SLI anomaly score: read from a real Prometheus holding the SLIs,
equal to the forest's own score; absent (never 0) without the data; its alert rule."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from exporter_driver import Exporter, SLISource, firing, last_evaluation, vector, wait_for

from imanalytics.baselines import MultiSLIIsolationForest, SeasonalProfile
from imanalytics.exporter import ServedSeries, open_store, save_baselines, serve
from imanalytics.exporter.collector import BandCollector
from imanalytics.exporter.live import LiveLevels
from imanalytics.exporter.score import scores_at
from imanalytics.exporter.scrape import JOB
from imanalytics.frames import parse_series
from imanalytics.promql import evaluate
from imanalytics.rules import check_rules, run_rule_tests
from imanalytics.samples import NAME
from imanalytics.sandbox import PrometheusSandbox
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
    d, model, _ = forest_dir
    store = open_store(d, trusted=True)
    now = pd.Timestamp(workload.end) - pd.Timedelta("3h") + pd.Timedelta("25.4s")
    [(labels, score, limit)] = list(scores_at(store, now, LiveLevels(prom.url)))
    at = now.floor("s")  # the scrape's second, as Prometheus' range query ends there
    window = _frame(workload, at - pd.Timedelta("1D"), at)
    assert window.index[-1] == at
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
        assert ("no recent values of its SLIs" in capsys.readouterr().err) == said  # once
    names = {s.name: s.samples for m in BandCollector(store, clock=now.timestamp,
                                                       live=None).collect() for s in [m]}
    assert names["imanalytics_baseline_anomaly_score"] == []
    assert len(names["imanalytics_baseline_anomaly_threshold"]) == 1


def test_stderr_says_once_which_score_is_left_out_why_and_when_it_is_back(prom, workload,
                                                                          forest_dir, capsys):
    d, _, _ = forest_dir
    store = open_store(d, trusted=True)
    live = LiveLevels(prom.url)
    end = pd.Timestamp(workload.end)
    for _ in range(3):  # an hour after the data ends: no SLI value now
        [(labels, score, _)] = list(scores_at(store, end + pd.Timedelta("1h"), live))
        assert score is None
    name = "imanalytics_baseline_anomaly_score{" + ",".join(
        f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"serve-baselines: no {name} in this scrape, nor in later ones ")
    assert line.endswith(f"Prometheus has no value of {KEYS[0]} ({_expr(KEYS[0])}) now")
    for expected in (f"serve-baselines: {name} is served again", ""):
        [(_, score, _)] = list(scores_at(store, end - pd.Timedelta("3h"), live))
        assert score is not None and capsys.readouterr().err.strip() == expected


def test_no_score_starts_once_the_scrapes_budget_is_used_up(prom, workload, forest_dir,
                                                             capsys):
    d, _, _ = forest_dir
    store = open_store(d, trusted=True)
    live = LiveLevels(prom.url, budget=0.0)
    live.begin_scrape()  # as each scrape does before its bands
    for said in (True, False):  # once
        [(_, score, _)] = list(scores_at(store, pd.Timestamp(workload.end), live))
        assert score is None
        assert ("a scrape used up its 0s for recent data before 1 anomaly score(s) were "
                "computed" in capsys.readouterr().err) == said


def test_prometheus_down_is_said_once_for_the_bands_and_once_for_the_score(forest_dir, workload,
                                                                          tmp_path, capsys):
    d, _, frame = forest_dir
    forest = open_store(d, trusted=True)
    alone = SeasonalProfile(season="none").fit(frame[KEYS[0]].dropna())
    labels = forest.series[0].labels
    pairs = [(s, forest.models[s.file]) for s in forest.series]
    pairs.append((ServedSeries("e2e_alone", labels, "seasonal", 3.0, "upper",
                               query=_expr(KEYS[0])), alone))
    store = open_store(save_baselines(tmp_path / "b", pairs), trusted=True)
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens
    collector = BandCollector(store, clock=pd.Timestamp(workload.end).timestamp,
                              live=LiveLevels(url))
    for _ in range(3):
        scraped = {m.name: m.samples for m in collector.collect()}
        assert scraped["imanalytics_baseline_anomaly_score"] == []
    bands, score = capsys.readouterr().err.splitlines()  # said once, bands first
    assert bands.startswith(f"serve-baselines: bands of {_expr(KEYS[0])} from the fitted state "
                            "only (imanalytics_baseline_following 0): Prometheus at " + url)
    assert score.startswith("serve-baselines: no imanalytics_baseline_anomaly_score{")
    assert f"no recent values of its SLIs: Prometheus at {url}" in score
    assert "anomaly" not in bands and "fitted state" not in score


def test_without_prometheus_the_start_says_the_scores_need_it(forest_dir, capsys):
    d, _, _ = forest_dir
    stop = threading.Event()
    stop.set()  # serve, say what it serves, and stop at once
    serve(d, port=free_port(), trusted=True, stop=stop)
    err = capsys.readouterr().err
    assert ("no imanalytics_baseline_anomaly_score for the 1 isolation forest(s): the score is "
            "read from the SLIs' recent values, which needs --prometheus URL") in err


# --- end to end: a real Prometheus scrapes the score and evaluates README's rules --------

TOGETHER = ("delivery_failure_ratio", "processing_latency_p99", "e2e_latency_p95")


@pytest.fixture(scope="module")
def fleet_forests(workload, tmp_path_factory):
    """One forest of three SLIs per instance, fitted on the workload, served from a directory
    whose queries are the SLIs' recorded series."""
    chosen = [s for s in slis() if s.key in TOGETHER]
    end = pd.Timestamp(workload.end)
    frames = {s.key: evaluate(s.expr, workload.series, end - pd.Timedelta("2D"), end, "1m")
              for s in chosen}
    pairs = []
    for column in frames[chosen[0].key].columns:
        labels = {n: v for n, v in parse_series(column).items() if n != NAME}
        frame = pd.DataFrame({k: f[column] for k, f in frames.items()}).dropna()
        model = MultiSLIIsolationForest(n_estimators=50, season="none").fit(frame)
        pairs += [(ServedSeries(s.key, labels, "forest", 4.0, "upper", column=s.key,
                                query=s.record), model) for s in chosen]
    return save_baselines(tmp_path_factory.mktemp("fleet") / "b", pairs)


def test_prometheus_scrapes_the_score_and_readme_rules_fire_on_slis_moving_together(
        fleet_forests, tmp_path):
    exporter = Exporter(fleet_forests)
    exporter.extra = ["--trusted"]
    with SLISource(TOGETHER) as source:
        jobs = [{"job_name": job, "honor_labels": True, "scrape_interval": "1s",
                 "static_configs": [{"targets": [target]}]}
                for job, target in ((JOB, exporter.target), ("im", source.target))]
        rules = [source.recording_rules(tmp_path / "sli.rules.yml"),
                 _readme_rules_at_once(tmp_path / "score.rules.yml")]
        with PrometheusSandbox([], rule_files=rules, evaluation_interval="1s",
                               scrape_configs=jobs) as prom:
            exporter.extra += ["--prometheus", prom.url]  # the score reads the recorded SLIs
            with exporter:
                _missing_normal_together_missing(prom, source)
    assert exporter.returncode == 0 and "Traceback" not in exporter.stderr
    # Said once each: both scores left out at start, back, and one left out at the end.
    said = exporter.stderr.splitlines()
    assert sum("in this scrape, nor in later ones" in line for line in said) == 2, said
    back = " ".join(line for line in said if line.endswith("served again"))
    assert all(f'instance="{i}"' in back for i in ("im-0:9100", "im-1:9100")), said


def _readme_rules_at_once(path: Path) -> Path:
    """README's score rules with ``for: 0s``: its 5 and 15 minutes would outlast the test;
    nothing else is changed."""
    doc = yaml.safe_load(_readme_rules())
    for group in doc["groups"]:
        for rule in group["rules"]:
            assert "for" in rule
            rule["for"] = "0s"
    path.write_text(yaml.safe_dump(doc))
    return path


def _missing_normal_together_missing(prom, source) -> None:
    thresholds = wait_for(lambda: vector(prom, "imanalytics_baseline_anomaly_threshold"),
                          lambda found: len(found) == 2, "the forests' thresholds")
    instances = sorted(dict(k)["instance"] for k in thresholds)
    # No SLI has a value yet: no score, so the score-missing alert fires for both forests.
    wait_for(lambda: firing(prom), lambda f: f == {("ImAnomalyScoreMissing", i)
                                                   for i in instances}, "the score missing")
    assert vector(prom, "imanalytics_baseline_anomaly_score") == {}
    centres = vector(prom, 'imanalytics_baseline_centre{strategy="forest"}')
    assert len(centres) == 3 * 2
    for labels, centre in centres.items():
        source.set(labels, centre)
    scores = wait_for(lambda: vector(prom, "imanalytics_baseline_anomaly_score"),
                      lambda found: len(found) == 2, "the scores of normal values")
    assert all(scores[k] < thresholds[k] for k in thresholds), scores
    settled = time.time()
    wait_for(lambda: last_evaluation(prom), lambda t: t > settled + 1,
             "a rule evaluation after the scores arrived")
    assert firing(prom) == set()
    # Instance 0's three SLIs move out together, each by a band's half-width (4 spreads).
    uppers = vector(prom, 'imanalytics_baseline_upper{strategy="forest"}')
    for labels, upper in uppers.items():
        if dict(labels)["instance"] == instances[0]:
            source.set(labels, upper)
    wait_for(lambda: firing(prom), lambda f: f == {("ImSLIsAnomalousTogether", instances[0])},
             "the forest's alert")
    # Instance 1's SLIs stop: its score goes missing; instance 0's alert stands.
    for labels in centres:
        if dict(labels)["instance"] == instances[1]:
            source.remove(labels)
    wait_for(lambda: firing(prom), lambda f: f == {("ImSLIsAnomalousTogether", instances[0]),
                                                   ("ImAnomalyScoreMissing", instances[1])},
             "the score of the stopped SLIs missing")


def _expr(key: str) -> str:
    return next(s.expr for s in slis() if s.key == key)


def _frame(workload, start, end) -> pd.DataFrame:
    """The forest's SLIs of the workload on the 1 m grid from `start` to `end`."""
    chosen = {s.key: s for s in slis() if s.key in KEYS}
    frames = {k: evaluate(s.expr, workload.series, start, end, "1m") for k, s in chosen.items()}
    return pd.DataFrame({k: f[f.columns[0]] for k, f in frames.items()})


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
