"""The package's objects show themselves in a notebook as compact HTML: a few facts and
short tables, readable durations, no secrets, never thousands of rows."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from imanalytics import PromSource, default_catalog, evaluate, slis
from imanalytics.baselines import AdaptiveBand
from imanalytics.display import MAX_ROWS, duration, table
from imanalytics.inventory import inventory
from imanalytics.review import review_thresholds


def _rows(html: str) -> int:
    return html.count("<tr>") - html.count("<table")  # minus each table's header row


def test_tables_stop_at_a_few_rows_and_say_how_many_are_left():
    html = table(pd.DataFrame({"n": range(1000)}))
    assert _rows(html) == MAX_ROWS
    assert f"{1000 - MAX_ROWS} more rows" in html


def test_cells_are_escaped():
    assert "<script>" not in table(pd.DataFrame({"x": ["<script>alert(1)</script>"]}))


def test_durations_read_as_people_say_them():
    assert duration(5 + 44.5 / 60) == "5 min 44 s"
    assert duration(0.75) == "45 s"
    assert duration(125) == "2 h 05 min"
    assert duration(float("nan")) == "–"


def test_review_shows_recommendations_with_whole_reasons(workload):
    review = review_thresholds(workload, "2d", strategies=("adaptive_band",),
                               sli_keys=["processing_latency_p99", "connections"])
    html = review._repr_html_()
    for row in review.recommendations.itertuples():
        assert row.sli in html
        assert _escaped(row.why) in html  # the reason in full, not cut
    assert "days" not in html  # times to detect in words, not Timedelta reprs
    assert _rows(html) == len(review.recommendations)


def test_baseline_shows_parameters_and_learned_state(workload):
    sli = next(s for s in slis() if s.key == "connections")
    frame = evaluate(sli.expr, workload.series, workload.start, workload.end, "1m").iloc[:, 0]
    estimator = AdaptiveBand(sensitivity=3.5)
    assert "not fitted" in estimator._repr_html_()
    estimator.fit(frame)
    bundle = estimator._repr_mimebundle_()
    assert "AdaptiveBand (fitted)" in bundle["text/html"]
    assert "sensitivity" in bundle["text/html"] and "3.5" in bundle["text/html"]
    assert re.search(r"step_", bundle["text/html"])
    assert bundle["text/plain"] == repr(estimator)


@pytest.mark.prometheus
def test_inventory_shows_counts_per_layer_and_what_is_missing(prom, workload):
    with PromSource(prom.url) as source:
        inv = inventory(source, start=workload.start, end=workload.end)
    html = inv._repr_html_()
    found = int(inv.metrics["present"].sum())
    assert f"{found} of {len(inv.metrics)}" in html
    for layer in inv.metrics["layer"].unique():
        assert f">{layer}<" in html
    assert _rows(html) < len(inv.metrics)  # a summary, not the whole metrics table


def test_source_shows_no_secret_and_asks_nothing():
    # Port 9 (discard) has no server: a request would raise, showing must not make one.
    source = PromSource("http://127.0.0.1:9", bearer_token="s3cr3t-t0ken")
    html = source._repr_html_()
    assert "127.0.0.1:9" in html and "bearer_token (hidden)" in html
    assert "s3cr3t" not in html


def test_catalog_lists_every_metric():
    catalog = default_catalog()
    html = catalog._repr_html_()
    assert all(f">{spec.key}<" in html for spec in catalog)
    assert f"metrics:</span> {len(catalog)}" in html


def _escaped(text: str) -> str:
    import html

    return html.escape(text)
