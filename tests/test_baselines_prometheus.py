"""The PromQL-native baselines on a real Prometheus: the exported rule file passes promtool,
and its band and score expressions, evaluated by the server over the SLI series, equal the
estimators' own bands and scores (and the local PromQL evaluator's)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from promql_oracle import query_range

from imanalytics.baselines import AdaptiveBand, WeekOverWeekZScore
from imanalytics.frames import parse_series
from imanalytics.promql import evaluate
from imanalytics.rules import check_rules, inline, write_rule_file
from imanalytics.samples import NAME, Series
from imanalytics.sandbox import PrometheusSandbox
from imanalytics.sandbox.workload import simulate
from imanalytics.slis import slis

pytestmark = pytest.mark.prometheus

END = pd.Timestamp("2026-03-02T00:00:00Z")
KEYS = ("connections", "processing_latency_p99")
REL_TOL = 1e-7  # numpy prefix sums against Prometheus' running (Welford) sums


@pytest.fixture(scope="module")
def recorded():
    """Each SLI at 5m over 16 simulated days, as the series its recording rule would store."""
    wl = simulate(instances=2, days=16, seed=3, end=END, scrape_interval="60s", incidents=False)
    out = {}
    for sli in (s for s in slis() if s.key in KEYS):
        frame = evaluate(sli.expr, wl.series, wl.start + pd.Timedelta("10min"), wl.end, "5m")
        for column in frame.columns:
            values = frame[column].dropna()
            labels = {**parse_series(column), NAME: sli.record}
            t_ms = values.index.as_unit("ms").asi8
            out[sli.key, labels["instance"]] = (sli, Series(labels, t_ms, values.to_numpy()),
                                                values)
    return out


@pytest.fixture(scope="module")
def server(recorded):
    with PrometheusSandbox([series for _, series, _ in recorded.values()]) as prom:
        yield prom


@pytest.mark.parametrize("cls", [WeekOverWeekZScore, AdaptiveBand])
@pytest.mark.parametrize("key", KEYS)
def test_prometheus_runs_the_exported_rules_to_the_same_bands(recorded, server, tmp_path,
                                                              cls, key):
    mine = {inst: v for (k, inst), v in recorded.items() if k == key}
    sli = next(iter(mine.values()))[0]
    models = {inst: cls(direction=sli.direction).fit(values)
              for inst, (_, _, values) in mine.items()}
    groups = next(iter(models.values())).to_rules(sli)
    path = tmp_path / "baseline.rules.yml"
    write_rule_file(groups, path)
    check_rules(path)
    rules = [SimpleNamespace(record=r["record"], expr=r["expr"])
             for r in groups[0]["rules"] if "record" in r]
    alert = next(r for r in groups[0]["rules"] if "alert" in r)
    assert alert["expr"].startswith(sli.record) and alert["for"] == sli.static_for

    index = pd.date_range(END - pd.Timedelta(days=2), END - pd.Timedelta("1h"), freq="1h",
                          tz="UTC")
    start, end = index[0].value // 10**6, index[-1].value // 10**6
    data = [series for _, series, _ in mine.values()]
    for name in ("upper", "lower", "score"):
        rule = next(r for r in rules if f"_{name}_" in r.record)
        expr = inline(rule.expr, rules)
        served = query_range(server.url, expr, start, end, 3_600_000)
        local_promql = evaluate(expr, data, index[0], index[-1], "1h")
        assert len(served) == len(mine)
        for labels, points in served.items():
            instance = dict(labels)["instance"]
            model, values = models[instance], mine[instance][2]
            ours = (model.score(values).reindex(index) if name == "score"
                    else model.predict_bands(index)[name])
            column = next(c for c in local_promql.columns if instance in c)
            for ts, ours_value, promql_value in zip(index, ours, local_promql[column],
                                                    strict=True):
                theirs = points[ts.value // 10**6]
                assert _close(ours_value, theirs), (name, instance, ts, ours_value, theirs)
                assert _close(promql_value, theirs), (name, instance, ts, promql_value, theirs)


def test_rules_name_their_records_by_level_metric_operations():
    sli = next(s for s in slis() if s.key == "connections")
    model = WeekOverWeekZScore().fit(_toy())
    records = [r["record"] for r in model.to_rules(sli)[0]["rules"] if "record" in r]
    level, metric, ops = sli.record.split(":")
    for record in records:
        parts = record.split(":")
        assert parts[:2] == [level, metric] and parts[2].endswith(ops)
        assert parts[2].startswith("week_over_week_")


def _toy() -> pd.Series:
    index = pd.date_range("2026-01-05", periods=9 * 288, freq="5min", tz="UTC")
    hours = index.hour.to_numpy()
    return pd.Series(100 + 10 * np.sin(hours / 24 * 2 * np.pi), index=index)


def _close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= REL_TOL * max(abs(a), abs(b), 1e-12)
