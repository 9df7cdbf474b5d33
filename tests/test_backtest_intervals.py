"""Groups with their own ``interval:`` run on their own grid; the series a slow group
records are read by faster groups at their own times (lookback and staleness markers).

promtool runs every group at each of its test's evaluation steps, whatever the group's
interval, so the file is held to it one group at a time: each group alone, at its own
interval, with the series the other groups recorded (as the backtest wrote them, staleness
markers included) as input."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from backtest_promtool import check_with_promtool, counters, rule_file

from imanalytics.rules import evaluate_file
from imanalytics.samples import Series

MINUTES = 36
RULES = """
groups:
  - name: slow
    interval: 2m
    rules:
      - record: job:req:rate3m
        expr: sum by (job) (rate(req_total[3m]))
      - alert: SlowBusy
        expr: job:req:rate3m > 1
        for: 4m
        annotations:
          summary: "{{ $labels.job }} at {{ $value }}"
  - name: fast
    rules:
      - record: job:req:rate3m:seen
        expr: job:req:rate3m * 2
      - alert: SeenBusy
        expr: job:req:rate3m:seen > 2.5
        for: 3m
  - name: five
    interval: 5m
    rules:
      - record: job:req:rate3m:max5m
        expr: max_over_time(job:req:rate3m:seen[5m])
"""
# Per-minute increments in multiples of 90 (3m rates are then exact binary fractions);
# api stops being scraped from 14m to 22m, so its recorded series go stale.
STEPS = [0, 90, 180, 270, 90, 90, 270, 270, 270, 180, 0, 0, 90, 270, 270, 270, 270, 90,
         90, 90, 180, 180, 270, 270, 270, 270, 90, 0, 0, 90, 180, 270, 270, 270, 90, 90, 90]


def inputs() -> list[Series]:
    return counters(STEPS, (14, 22))


@pytest.fixture(scope="module")
def path(tmp_path_factory):
    return rule_file(tmp_path_factory, RULES)


@pytest.fixture(scope="module")
def result(path):
    return evaluate_file(path, inputs(), 0, MINUTES * 60, "1m")


def test_each_group_writes_on_its_own_grid(result):
    every = {"job:req:rate3m": 120_000, "job:req:rate3m:seen": 60_000,
             "job:req:rate3m:max5m": 300_000}
    for name, interval in every.items():
        series = result.recorded(name)
        assert series and all(not (s.t % interval).any() for s in series), name
    stale = [s for s in result.recorded("job:req:rate3m") if np.isnan(s.v).any()]
    assert stale, "the slow group's api series ends with a staleness marker"
    fired = result.alerts[result.alerts.fired_at.notna()]
    assert set(fired.alertname) == {"SlowBusy", "SeenBusy"}


@pytest.mark.parametrize("group", ["slow", "fast", "five"])
def test_each_group_equals_promtool_at_its_interval(path, result, group, tmp_path):
    spec = next(g for g in yaml.safe_load(RULES)["groups"] if g["name"] == group)
    own = {r.get("record") for r in spec["rules"]} | {"ALERTS", "ALERTS_FOR_STATE"}
    alerts = [r["alert"] for r in spec["rules"] if "alert" in r]
    others = [s for s in result.series if s.name not in own]
    exprs = [r["record"] for r in spec["rules"] if "record" in r]
    if alerts:
        names = "|".join(alerts)
        exprs += [f'ALERTS{{alertname=~"{names}"}}', f'ALERTS_FOR_STATE{{alertname=~"{names}"}}']
    mine = [s for s in result.series if s.name in own
            and s.labels.get("alertname", alerts[0] if alerts else None) in alerts + [None]]
    check_with_promtool(tmp_path, yaml.safe_dump({"groups": [spec]}), inputs() + others,
                        _only(result, mine), MINUTES, alerts=alerts, exprs=exprs,
                        interval=spec.get("interval", "1m"),
                        at_minute=lambda m: evaluate_file(path, inputs(), 0, m * 60, "1m"))


def _only(result, series):
    return type(result)(series, result.alerts)
