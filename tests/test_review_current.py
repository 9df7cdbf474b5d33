"""The rules that run today, backtested beside the recommendations: from rule files, from a
previous review's output and from a real server's /api/v1/rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from imanalytics.review import review_thresholds
from imanalytics.review.cli import report
from imanalytics.review.current import RuleSourceError, load_rule_files
from imanalytics.sandbox import PrometheusSandbox
from imanalytics.sandbox.incidents import write_incidents
from imanalytics.sandbox.workload import simulate

DATA = Path(__file__).parent / "data"
HIGH_LATENCY = DATA / "high-message-latency.rules.yml"
SUBQUERY = DATA / "latency-subquery.rules.yml"
FIGURES = ["alerts", "false_pages", "true_alerts", "recall", "detected"]


@pytest.fixture(scope="module")
def fleet():
    return simulate(instances=2, days=6, seed=3, end="2026-03-07T00:00:00Z")


@pytest.fixture(scope="module")
def first(fleet, tmp_path_factory):
    out = tmp_path_factory.mktemp("first")
    review = review_thresholds(fleet, "6d", strategies=("adaptive_band",),
                               current_rules=load_rule_files([HIGH_LATENCY]))
    return review, report(review, out), out


def _same_figures(result, row):
    for key in FIGURES:
        mine, theirs = result.figures[key], row[key]
        assert mine == theirs or (mine != mine and theirs != theirs), (key, mine, theirs)


def test_high_message_latency_is_backtested_like_the_same_static_candidate(first):
    review, _, _ = first
    [result] = review.current
    assert result.rule.name == "HighMessageLatency" and result.sli == "processing_latency_p99"
    assert result.engine == "local"
    table = review.backtest("processing_latency_p99").candidates
    same = table[table["candidate"] == "static > 1 for 5m"].iloc[0]
    _same_figures(result, same)
    assert len(result.events) == same["alerts"]


def test_the_previous_reviews_rules_reproduce_their_own_figures(first, fleet):
    before, files, out = first
    rules = load_rule_files([files["alerts"], files["baseline_rules"]])
    shipped = before.recommendations[before.recommendations["recommended"]
                                     & (before.recommendations["ships"] == "PromQL")]
    assert len(rules.alerts) == len(shipped) >= 3
    assert set(shipped["strategy"]) >= {"static", "adaptive_band"}
    again = review_thresholds(fleet, "6d", strategies=("adaptive_band",), current_rules=rules)
    assert sorted(r.sli for r in again.current) == sorted(shipped["sli"])
    for result in again.current:
        assert result.engine == "local", result.problem
        row = shipped.set_index("sli").loc[result.sli]
        _same_figures(result, row)  # band rules too: the judged half has their history
        assert result.figures["mean_ttd_min"] == pytest.approx(row["mean_ttd_min"], nan_ok=True)


def test_the_report_shows_the_current_rule_and_the_diff(first):
    _, files, _ = first
    text = files["report"].read_text()
    assert "HighMessageLatency" in text and "--- current: HighMessageLatency" in text
    assert "+++ recommended" in text
    assert "HighMessageLatency" in files["summary"].read_text()


def test_changes_since_the_last_review_name_before_and_after(first, fleet, capsys):
    review, _, out = first
    report(review, out)
    assert "0 recommendation(s) changed since the last review" in capsys.readouterr().out
    stricter = review_thresholds(fleet, "6d", strategies=("adaptive_band",), page_budget=0.01)
    report(stricter, out)
    text = capsys.readouterr().out
    old = dict(zip(review.recommendations["sli"], review.recommendations["candidate"],
                   strict=True))
    new = dict(zip(stricter.recommendations["sli"], stricter.recommendations["candidate"],
                   strict=True))
    moved = [sli for sli in old if old[sli] != new[sli]]
    assert f"{len(moved)} recommendation(s) changed since the last review" in text
    for sli in moved:
        assert f"{sli}: {old[sli]} → {new[sli]}" in text


def test_a_broken_rule_file_is_named(tmp_path):
    bad = tmp_path / "bad.rules.yml"
    bad.write_text("groups:\n  - name: x\n    rules:\n      - alert: A\n")
    with pytest.raises(RuleSourceError,
                       match=r"bad.rules.yml: group 'x', rule 1 'A': `expr` must be set"):
        load_rule_files([bad])
    bad.write_text("not: rules\n")
    with pytest.raises(RuleSourceError, match="bad.rules.yml: not a Prometheus rule file"):
        load_rule_files([bad])


def test_cli_reads_the_servers_rules_and_evaluates_subqueries_locally(
        workload, tmp_path):
    incidents = tmp_path / "incidents.yaml"
    write_incidents(workload.incidents, incidents)
    with PrometheusSandbox(workload.series, rule_files=[HIGH_LATENCY, SUBQUERY]) as prom:
        done = subprocess.run(
            [sys.executable, "-m", "imanalytics", "review-thresholds", "--url", prom.url,
             "--since", "2d", "--until", workload.end.isoformat(), "--incidents",
             str(incidents), "--out", str(tmp_path / "out"), "--strategies", "adaptive_band",
             "--slis", "processing_latency_p99", "--server-rules"],
            capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    high = next(x for x in lines if x.startswith("current rule HighMessageLatency"))
    sustained = next(x for x in lines if x.startswith("current rule SustainedMessageLatency"))
    assert "(processing_latency_p99)" in high and high.endswith("(local engine)")
    assert "(processing_latency_p99)" in sustained and sustained.endswith("(local engine)")


def test_the_server_evaluates_current_rules_as_the_local_engine_does(prom, workload, tmp_path):
    """With the SLIs from the server (no raw samples), current rules are evaluated by its
    query_range: the same alerts, to the figure, as the local evaluator over raw samples."""
    busy = tmp_path / "busy.rules.yml"  # the sandbox's p99 runs 0.08-0.1 s: fire at its top
    busy.write_text(HIGH_LATENCY.read_text().replace(") > 1\n", ") > 0.097\n"))
    rules = load_rule_files([busy])
    results = {}
    for engine in ("local", "server"):
        review = review_thresholds(prom.url, "1d", workload.end, incidents=workload.incidents,
                                   sli_keys=["processing_latency_p99"],
                                   strategies=("adaptive_band",), engine=engine,
                                   current_rules=rules, progress=False)
        [results[engine]] = review.current
    assert results["local"].engine == "local" and results["server"].engine == "server"
    assert results["server"].problem == ""
    for key in FIGURES:
        assert results["server"].figures[key] == pytest.approx(
            results["local"].figures[key], nan_ok=True), key
    assert results["local"].figures["alerts"] > 0, "the rule must fire to compare alerts"
    pd.testing.assert_frame_equal(results["server"].events, results["local"].events)
