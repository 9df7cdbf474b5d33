"""Threshold tuning reviews: candidates, recommendations, shipped rules on real tools."""

from __future__ import annotations

import subprocess
import sys
import urllib.request

import pandas as pd
import pytest
import yaml
from browser import distinct_colours, rendered_dom, screenshot

from imanalytics.review import Review, ReviewError, review_thresholds
from imanalytics.review.backtest import FOR_DURATIONS, SENSITIVITIES, STATIC_SCALES
from imanalytics.review.cli import report
from imanalytics.rules import check_rules, run_rule_tests
from imanalytics.sandbox.incidents import write_incidents
from imanalytics.sandbox.services import PushgatewaySandbox
from imanalytics.sandbox.tools import find_tool
from imanalytics.sandbox.workload import simulate

STRATEGIES = ("adaptive_band", "seasonal")


@pytest.fixture(scope="module")
def fleet():
    return simulate(instances=2, days=8, seed=31, end="2026-03-09T00:00:00Z")


@pytest.fixture(scope="module")
def review(fleet) -> Review:
    return review_thresholds(fleet, since="8d", strategies=STRATEGIES)


@pytest.fixture(scope="module")
def written(review, tmp_path_factory):
    out = tmp_path_factory.mktemp("review")
    return report(review, out)


def test_every_sli_gets_its_full_grid_of_candidates(review):
    per_sli = len(STATIC_SCALES) * len(FOR_DURATIONS)
    per_sli += len(STRATEGIES) * len(SENSITIVITIES) * len(FOR_DURATIONS)
    counts = review.candidates.groupby("sli").size()
    assert (counts == per_sli).all() and len(counts) == 7


def test_recommendations_budget_false_pages_and_catch_incidents(review):
    recs = review.recommendations
    judged = recs[recs["recommended"] & (recs["incidents"] > 0)]
    assert len(judged) >= 3
    assert (judged["false_pages_per_week"] <= review.page_budget).all()
    assert (judged["recall"] > 0).all()
    # true alerts never count against the budget: all pages minus the false ones
    assert (judged["pages_per_week"] >= judged["false_pages_per_week"]).all()
    assert set(recs.loc[recs["recommended"], "ships"]) <= {"PromQL", "exporter"}
    kept = recs[~recs["recommended"]]
    assert kept["why"].str.startswith("no recommendation — keep the current rule").all()


def test_without_incidents_the_quietest_that_fires_on_the_worst_excursion(fleet):
    quiet = review_thresholds(fleet, since="8d", incidents=[], strategies=("adaptive_band",),
                              sli_keys=["processing_latency_p99"])
    rec = quiet.recommendations.iloc[0]
    assert rec["why"].startswith("no incidents")
    assert quiet.candidates["recall"].isna().all()
    table = quiet.backtests[0].candidates
    firing = table[table["fires_on_worst"] & (table["other_pages_per_week"]
                                              <= quiet.page_budget)]
    assert rec["false_pages_per_week"] == firing["false_pages_per_week"].min()
    series, at, _ = quiet.backtests[0].worst
    events = quiet.backtests[0].events[rec["candidate"]]
    assert ((events["series"] == series) & (events["since"] <= at + pd.Timedelta("15min"))
            & (events["end"] >= at - pd.Timedelta("15min"))).any()


def test_bad_arguments_are_named(fleet):
    with pytest.raises(ReviewError, match="unknown strategy 'nope'|unknown strategy nope"):
        review_thresholds(fleet, strategies=("nope",))
    with pytest.raises(ReviewError, match="unknown SLI latency"):
        review_thresholds(fleet, sli_keys=["latency"])


def test_shipped_rules_pass_promtool(written):
    check_rules(written["alerts"], written["baseline_rules"])
    assert "SUCCESS" in run_rule_tests(written["alert_tests"])
    doc = yaml.safe_load(written["alert_tests"].read_text())
    names = [t["name"] for t in doc["tests"]]
    assert any("fires on" in n for n in names) and any("stays silent" in n for n in names)
    for test in doc["tests"]:
        fired = any(c["exp_alerts"] for c in test["alert_rule_test"])
        assert fired == ("fires on" in test["name"]), test["name"]


def test_alert_rules_follow_the_conventions(written):
    rules = [r for g in yaml.safe_load(written["alerts"].read_text())["groups"]
             for r in g["rules"]]
    assert rules
    for rule in rules:
        assert rule["alert"][0].isupper() and "_" not in rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning", "info")
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"])
        assert "for" in rule


def test_alertmanager_config_passes_amtool(written):
    subprocess.run([find_tool("amtool"), "check-config", str(written["alertmanager"])],
                   check=True, capture_output=True)


def test_summary_and_csv_are_written(written, review):
    text = written["summary"].read_text()
    assert "## Recommendations" in text
    assert all(sli in text for sli in review.recommendations["sli"])
    assert len(written["candidates"].read_text().splitlines()) == len(review.candidates) + 1


def test_the_report_offers_each_instances_band(written, review):
    text = written["report"].read_text()
    for instance in ("im-0", "im-1"):
        assert f"band: instance={instance}" in text


def test_the_report_is_seen_in_chromium(written, review, tmp_path):
    dom = rendered_dom(written["report"])
    assert dom.count('class="main-svg"') >= 3 * len(review.backtests)  # series, timeline, trade-off
    recommended = int(review.recommendations["recommended"].sum())
    assert dom.count('<tr class="recommended"') == recommended  # one row per SLI table
    assert 'id="summary"' in dom and "How the recommendation is chosen" in dom
    pixels = screenshot(written["report"], tmp_path / "report.png")
    assert distinct_colours(pixels) > 50


def test_cli_reviews_a_server_and_pushes_its_run_metrics(prom, workload, tmp_path):
    incidents = tmp_path / "incidents.yaml"
    write_incidents(workload.incidents, incidents)
    with PushgatewaySandbox() as gateway:
        done = subprocess.run(
            [sys.executable, "-m", "imanalytics", "review-thresholds", "--url", prom.url,
             "--since", "2d", "--until", workload.end.isoformat(), "--incidents",
             str(incidents), "--out", str(tmp_path / "out"), "--strategies", "adaptive_band",
             "--pushgateway", gateway.url], capture_output=True, text=True, timeout=600)
        metrics = urllib.request.urlopen(f"{gateway.url}/metrics", timeout=10).read().decode()
    assert done.returncode == 0, done.stderr
    assert "report: " in done.stdout and (tmp_path / "out" / "report.html").exists()
    line = next(x for x in metrics.splitlines()
                if x.startswith("imanalytics_review_candidates_evaluated{"))
    assert float(line.split()[-1]) > 100
    # the same review again, with its own output as the rules running today
    out = tmp_path / "out"
    again = subprocess.run(
        [sys.executable, "-m", "imanalytics", "review-thresholds", "--url", prom.url,
         "--since", "2d", "--until", workload.end.isoformat(), "--incidents", str(incidents),
         "--out", str(out), "--strategies", "adaptive_band", "--current-rules",
         str(out / "im-alerts.rules.yml"), str(out / "im-baselines.rules.yml")],
        capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    shipped = [r["alert"] for g in yaml.safe_load((out / "im-alerts.rules.yml").read_text())
               ["groups"] for r in g["rules"]]
    current = [x for x in again.stdout.splitlines() if x.startswith("current rule ")]
    assert shipped and len(current) == len(shipped)
    assert all(x.endswith("(local engine)") for x in current), current
    assert "0 recommendation(s) changed since the last review" in again.stdout


def test_cli_names_a_broken_incidents_file(tmp_path):
    bad = tmp_path / "incidents.yaml"
    bad.write_text("- start: yesterday\n  end: 2026-03-01T00:00:00Z\n  kind: message_loss\n")
    done = subprocess.run(
        [sys.executable, "-m", "imanalytics", "review-thresholds", "--url", "http://127.0.0.1:9",
         "--incidents", str(bad)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "incidents.yaml" in done.stderr and "Traceback" not in done.stderr


def test_firing_follows_prometheus_for_semantics():
    from imanalytics.review.events import firing_events, flaps

    index = pd.date_range("2026-03-01", periods=12, freq="1min", tz="UTC").as_unit("ms")
    on = [0, 1, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1]
    condition = pd.DataFrame({"a": [bool(x) for x in on]}, index=index)
    events = firing_events(condition, pd.Timedelta("2min"))
    assert list(events["start"]) == [index[3], index[11]]  # held for 2 m: 3rd evaluation
    assert list(events["since"]) == [index[1], index[9]]
    assert list(events["resolved"]) == [True, False]
    assert len(firing_events(condition, pd.Timedelta(0))) == 3
    assert flaps(firing_events(condition, pd.Timedelta(0)), pd.Timedelta("5min")) == 2


def _tables(text: str) -> dict[str, list[dict]]:
    """Each report table by id: rows as {column: cell text}, with `_key` and `_class`."""
    import html
    import re

    tables = {}
    for table_id, body in re.findall(r'<table id="([^"]+)">(.*?)</table>', text, re.S):
        rows = []
        for attrs, cells in re.findall(r"<tr([^>]*)>(.*?)</tr>", body, re.S):
            row = {c: html.unescape(v) for c, v in
                   re.findall(r'<td data-column="([^"]+)">(.*?)</td>', cells, re.S)}
            if row:
                key = re.search(r'data-key="([^"]*)"', attrs)
                row["_key"] = html.unescape(key.group(1)) if key else None
                row["_class"] = "recommended" if 'class="recommended"' in attrs else ""
                rows.append(row)
        tables[table_id] = rows
    return tables


def _number(cell: str) -> float:
    if cell == "–":
        return float("nan")
    if cell.endswith("%"):
        return float(cell[:-1]) / 100
    return float(cell.split()[0].replace(",", ""))


def _agrees(cell: str, value: float, tolerance: float) -> bool:
    shown = _number(cell)
    return (pd.isna(shown) and pd.isna(value)) or abs(shown - value) <= tolerance


def test_the_reports_numbers_are_the_csvs(written, review):
    csv = pd.read_csv(written["candidates"]).set_index(["sli", "candidate"])
    tables = _tables(written["report"].read_text())
    checks = {"alerts": 0.5, "false_pages_per_week": 0.005, "recall": 0.005, "f1": 0.005,
              "mean_ttd_min": 0.05}
    summary = tables["summary"]
    assert [r["sli"] for r in summary] == list(review.recommendations["sli"])
    for row in summary:
        rec = review.recommendations.set_index("sli").loc[row["sli"]]
        assert row["recommendation"] == rec["candidate"] and row["why"] == rec["why"]
        if not rec["recommended"]:
            assert row["ships"] == "nothing" and row["false_pages_per_week"] == "–"
            continue
        truth = csv.loc[(row["sli"], rec["candidate"])]
        assert row["ships"] == truth["ships"]
        for column, tolerance in checks.items():
            assert _agrees(row[column], truth[column], tolerance), (row["sli"], column)
    for test in review.backtests:
        rows = tables[f"candidates-{test.sli.key}"]
        for row in rows:
            truth = csv.loc[(test.sli.key, row["candidate"])]
            for column, tolerance in checks.items():
                assert _agrees(row[column], truth[column], tolerance), (row["candidate"], column)
        rec = review.recommendations.set_index("sli").loc[test.sli.key]
        marked = [r["candidate"] for r in rows if r["_class"] == "recommended"]
        assert marked == ([rec["candidate"]] if rec["recommended"] else [])


def test_the_report_has_an_incident_table_per_judged_sli(written, review):
    tables = _tables(written["report"].read_text())
    for test in review.backtests:
        if not test.incidents:
            continue
        rows = tables[f"incidents-{test.sli.key}"]
        assert len(rows) == len(test.incidents)
        rec = review.recommendations.set_index("sli").loc[test.sli.key]
        caught = sum(r["recommended"].startswith("caught") for r in rows)
        if rec["recommended"]:
            assert caught == rec["detected"]


def test_the_tradeoff_merges_identical_candidates_and_stars_the_pick(review):
    from imanalytics.review.figures import merged_points, tradeoff_figure

    for test in review.backtests:
        points = merged_points(test.candidates)
        assert sum(len(names) for names in points["candidate"]) == len(test.candidates)
        assert not points.duplicated(["strategy", "false_pages_per_week", "recall"]).any()
        rec = review.recommendations.set_index("sli").loc[test.sli.key]
        best = test.candidates.set_index("candidate").loc[rec["candidate"]].copy() \
            if rec["recommended"] else None
        if best is not None:
            best["candidate"] = rec["candidate"]
        fig = tradeoff_figure(test, best, review.page_budget, [])
        assert fig.layout.xaxis.type == "log"
        stars = [t for t in fig.data if t.name.startswith("recommended: ")]
        assert len(stars) == (1 if best is not None else 0)


def test_bands_stay_within_what_the_sli_can_be(review):
    from imanalytics.review.figures import human, sli_figure

    for test in review.backtests:
        rec = review.recommendations.set_index("sli").loc[test.sli.key]
        if not rec["recommended"] or rec["strategy"] == "static":
            continue
        best = test.candidates[test.candidates["candidate"] == rec["candidate"]].iloc[0]
        fig = sli_figure(test, best)
        bands = [t for t in fig.data if t.name in ("band", "baseline band")]
        assert bands
        top = human(test.sli)[0] if test.sli.unit == "percentunit" else float("inf")
        for trace in bands:
            values = pd.Series(trace.y, dtype=float).dropna()
            assert values.min() >= 0 and values.max() <= top
