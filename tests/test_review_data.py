"""What a review says about its data: less history than asked, skipped SLIs, incidents it
cannot judge, gaps; and arguments checked before any network call."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from imanalytics.review import ReviewError, review_thresholds
from imanalytics.review.cli import report
from imanalytics.samples import Series
from imanalytics.sandbox.incidents import Incident
from imanalytics.sandbox.workload import simulate

ONE = ("processing_latency_p99",)


@pytest.fixture(scope="module")
def fleet():
    return simulate(instances=2, days=4, seed=8, end="2026-03-05T00:00:00Z")


def _quick(data, **options):
    return review_thresholds(data, strategies=("adaptive_band",), **options)


def test_less_history_than_asked_is_said_and_weeks_use_the_real_span(fleet, tmp_path, capsys):
    review = _quick(fleet, since="28d", sli_keys=ONE)
    assert any("covers 4.0 days" in n and "not the 28.0 days asked" in n for n in review.notes)
    test = review.backtests[0]
    judged = (test.frame.index[-1] - test.evaluated_from) / pd.Timedelta("7D")
    assert np.allclose(test.candidates["weeks"], judged)
    row = test.candidates.iloc[0]
    assert row["pages_per_week"] == pytest.approx(row["alerts"] / judged)
    files = report(review, tmp_path)
    assert "warning: the history covers 4.0 days" in capsys.readouterr().out
    assert "covers 4.0 days" in files["summary"].read_text()
    assert "covers 4.0 days" in files["report"].read_text()


def test_a_skipped_sli_names_its_missing_metric(fleet):
    without = replace(fleet, series=[s for s in fleet.series if s.name != "im_connections_count"])
    review = _quick(without, since="4d", sli_keys=["connections", *ONE])
    assert [t.sli.key for t in review.backtests] == list(ONE)
    [note] = [n for n in review.notes if "connections" in n]
    assert "skipped" in note and "im_connections_count" in note and "inventory" in note


def test_incidents_outside_the_history_are_said(fleet):
    early = Incident(fleet.start - pd.Timedelta("3D"), fleet.start - pd.Timedelta("2D"),
                     "latency_regression", {"instance": fleet.instances[0]})
    review = _quick(fleet, since="4d", sli_keys=ONE, incidents=[*fleet.incidents, early])
    assert any(n.startswith("1 incident(s) fall outside the history") for n in review.notes)


def test_a_series_with_a_gap_is_said(fleet):
    hole = (fleet.start + pd.Timedelta("3D"), fleet.start + pd.Timedelta("3D2h"))
    lo, hi = (int(t.value // 1_000_000) for t in hole)
    cut = []
    for s in fleet.series:
        if s.labels.get("instance") == fleet.instances[0]:
            keep = (s.t < lo) | (s.t > hi)
            s = Series(s.labels, s.t[keep], s.v[keep])
        cut.append(s)
    review = _quick(replace(fleet, series=cut), since="4d", sli_keys=ONE)
    [note] = [n for n in review.notes if "gap" in n]
    assert fleet.instances[0] in note and "1 gap(s)" in note


def test_a_history_that_ends_before_it_starts_is_refused(fleet):
    with pytest.raises(ReviewError, match="must start before it ends"):
        _quick(fleet, since="2026-03-06T00:00:00Z", until="2026-03-01T00:00:00Z")


@pytest.mark.parametrize("budget", ["0", "-1", "nan", "lots"])
def test_cli_refuses_a_bad_page_budget(budget):
    done = subprocess.run(
        [sys.executable, "-m", "imanalytics", "review-thresholds", "--url",
         "http://127.0.0.1:9", "--page-budget", budget], capture_output=True, text=True,
        timeout=60)
    assert done.returncode == 2
    assert "--page-budget: must be a positive number" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_checks_out_and_the_span_before_the_network(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    base = [sys.executable, "-m", "imanalytics", "review-thresholds", "--url",
            "http://127.0.0.1:9"]  # nothing listens: a network call would fail differently
    done = subprocess.run([*base, "--out", str(blocker / "out")], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1 and f"--out {blocker / 'out'}: cannot write" in done.stderr
    done = subprocess.run([*base, "--out", str(tmp_path / "out"), "--server-rules", "--since",
                           "2026-03-06T00:00:00Z", "--until", "2026-03-01T00:00:00Z"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "must start before it ends" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("engine", ["local", "server"])
def test_a_server_review_names_the_metric_it_lacks(prom, workload, tmp_path, engine):
    from imanalytics.catalog import load_catalog

    mapping = tmp_path / "im.yaml"
    mapping.write_text("metrics:\n  connections:\n    name: im_sockets_open\n")
    review = review_thresholds(prom.url, "2d", workload.end, strategies=("adaptive_band",),
                               catalog=load_catalog(mapping), engine=engine,
                               sli_keys=["connections", "goroutines"])
    assert [t.sli.key for t in review.backtests] == ["goroutines"]
    [note] = [n for n in review.notes if n.startswith("SLI connections skipped")]
    assert "im_sockets_open" in note and "inventory" in note
