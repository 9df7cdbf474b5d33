"""Every dashboard query returns data from a real Prometheus holding the simulated
workload and its recording rules; lint asks the server about what it cannot parse.

A backfilled TSDB has no recorded series, so the recording rules are backfilled too:
``promtool tsdb create-blocks-from rules`` evaluates them against the session sandbox,
and a second sandbox serves a slice of the raw data plus those rule blocks. promtool
evaluates every rule against the source server only, so a rule reading another rule's
output would come out empty; each rule is backfilled in its raw-data form (`inline`).
"""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests

from imanalytics.baselines.promql_native import rule_name
from imanalytics.catalog import default_catalog
from imanalytics.dashboards import build_dashboards, lint, to_dict
from imanalytics.dashboards.lint import errors
from imanalytics.dashboards.lint import panels as all_panels
from imanalytics.dashboards.variables import substitute
from imanalytics.rules import dump_rules, inline, recording_rules
from imanalytics.samples import Series
from imanalytics.sandbox import PrometheusSandbox, find_tool
from imanalytics.slis import slis

pytestmark = pytest.mark.prometheus

ROOT = Path(__file__).resolve().parent.parent
QUERY_AT = pd.Timestamp("2026-03-01T20:00:00Z")  # inside the session workload (2 days)
RULES_FROM = QUERY_AT - pd.Timedelta("30m")
RAW_FROM = QUERY_AT - pd.Timedelta("2h")
VALUES = {  # what Grafana would send with "All" instances and tenants of job im-server
    "job": "im-server", "instance": ".*", "tenant": ".*",
    "__rate_interval": "1m", "__interval": "1m", "__range": "6h",
}


def _window(series: list[Series], start: pd.Timestamp, end: pd.Timestamp) -> list[Series]:
    lo, hi = start.value // 1_000_000, end.value // 1_000_000
    out = []
    for s in series:
        keep = (s.t >= lo) & (s.t <= hi)
        if np.any(keep):
            out.append(Series(dict(s.labels), s.t[keep], s.v[keep]))
    return out


def _band_rules(rules) -> list[dict]:
    """Band series under the names the review's exported baseline rules record (their
    values here are a simple ±10% around the SLI: the dashboards only need the names)."""
    return [{"record": rule_name(sli.record, f"adaptive_band_{bound}"),
             "expr": f"({inline(sli.record, rules)}) * {factor}"}
            for sli in slis() for bound, factor in (("lower", 0.9), ("upper", 1.1))]


def _backfill_rules(source_url: str, out: Path) -> Path:
    rules = recording_rules()
    group = {"name": "backfill", "rules": [{"record": r.record, "expr": inline(r.expr, rules)}
                                           for r in rules] + _band_rules(rules)}
    rule_file = out / "inlined.rules.yml"
    rule_file.write_text(dump_rules([group]))
    blocks = out / "blocks"
    cmd = [find_tool("promtool"), "tsdb", "create-blocks-from", "rules", "--quiet",
           f"--start={RULES_FROM.isoformat()}", f"--end={QUERY_AT.isoformat()}",
           f"--url={source_url}", f"--output-dir={blocks}", "--eval-interval=60s",
           str(rule_file)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr or done.stdout
    return blocks


@pytest.fixture(scope="module")
def rule_prom(prom, workload, tmp_path_factory):
    """A sandbox with two hours of raw data and half an hour of recorded series."""
    blocks = _backfill_rules(prom.url, tmp_path_factory.mktemp("rule-blocks"))
    raw = _window(workload.series, RAW_FROM, QUERY_AT + pd.Timedelta("5m"))
    with PrometheusSandbox(raw, blocks=[blocks]) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def boards():
    return {name: to_dict(b) for name, b in build_dashboards(None, ROOT / "rules").items()}


def _query(url: str, expr: str) -> dict:
    reply = requests.get(f"{url}/api/v1/query",
                         params={"query": expr, "time": QUERY_AT.timestamp()}, timeout=30)
    return reply.json()


def _has_data(body: dict) -> bool:
    data = body.get("data") or {}
    if data.get("resultType") == "scalar":
        return True
    return any(np.isfinite(float(r["value"][1])) for r in data.get("result", []))


@pytest.mark.parametrize("name", ["im-overview.json", "im-messaging-pipeline.json",
                                  "im-connection-layer.json", "im-message-queue.json",
                                  "im-api-health.json", "im-go-runtime.json",
                                  "im-baselines.json"])
def test_every_panel_query_returns_data(rule_prom, boards, name):
    failures = []
    for panel in all_panels(boards[name]):
        for target in panel["targets"]:
            expr = substitute(target["expr"], VALUES)
            body = _query(rule_prom.url, expr)
            if body.get("status") != "success" or not _has_data(body):
                failures.append(f"{panel['title']}: {expr}: {body.get('error', 'no data')}")
    assert failures == []


def test_the_recorded_series_are_there(rule_prom):
    rules = recording_rules()
    # Every rule of the file is backfilled, ratios and quantiles over other rules included.
    for record in ("job_instance:im_messages_sent:rate5m",
                   "job_instance_le:im_message_e2e_latency_seconds_bucket:rate5m",
                   "job_instance:im_message_e2e_latency_seconds:p99_rate5m",
                   "job:im_messages_delivered_per_sent:ratio_rate5m"):
        assert record in {r.record for r in rules}
        assert _has_data(_query(rule_prom.url, record)), record


def test_variable_queries_list_values(prom, boards):
    variables = boards["im-overview.json"]["templating"]["list"][1:]
    found = {}
    for var in variables:
        query = var["query"]["query"].removeprefix("label_values(").removesuffix(")")
        selector, label = (part.strip() for part in query.rsplit(",", 1))
        reply = requests.get(f"{prom.url}/api/v1/label/{label}/values",
                             params={"match[]": substitute(selector, VALUES)}, timeout=30)
        found[var["name"]] = reply.json()["data"]
    assert found["job"] == ["im-server"]
    assert len(found["instance"]) == 2 and len(found["tenant"]) >= 2


def test_lint_asks_the_server_about_constructs_it_cannot_parse(prom, boards):
    board = copy.deepcopy(boards["im-overview.json"])
    target = next(p for p in all_panels(board) if p["type"] == "timeseries")["targets"][0]
    selector = 'job_instance:im_messages_sent:rate5m{job=~"$job",instance=~"$instance"}'

    # info() is refused locally and unknown to this server: the server's word is an error.
    target["expr"] = f"info({selector})"
    [finding] = errors(lint(board, catalog=default_catalog(), prometheus_url=prom.url))
    assert finding.rule == "target-promql" and "rejected by" in finding.message

    target["expr"] = f"{selector} @ start"  # @ takes a time, not a name: caught locally
    [finding] = errors(lint(board, catalog=default_catalog(), prometheus_url=prom.url))
    assert finding.rule == "target-promql" and "syntax error at position" in finding.message
