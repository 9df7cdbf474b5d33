"""Dashboards as code: structure, layout, lint (and that lint catches each fault),
thresholds from alert rules, catalog-driven queries, determinism and freshness."""

from __future__ import annotations

import copy
import json
import re
import shutil
import textwrap
from pathlib import Path

import pytest

import imanalytics.dashboards as dashboards_pkg
from imanalytics.catalog import Catalog, default_catalog
from imanalytics.cli import main
from imanalytics.dashboards import (
    Scope,
    Section,
    build_dashboards,
    layout,
    lint,
    panels,
    to_dict,
    uid,
)
from imanalytics.dashboards.artifacts import dashboard_artifacts
from imanalytics.dashboards.lint import RULES, errors
from imanalytics.dashboards.lint import panels as all_panels
from imanalytics.dashboards.schema import SCHEMA_VERSION
from imanalytics.rules import artifacts as generate
from imanalytics.rules import dump_rules
from imanalytics.slis import slis

ROOT = Path(__file__).resolve().parent.parent
NAMES = {"im-overview.json", "im-messaging-pipeline.json", "im-connection-layer.json",
         "im-message-queue.json", "im-api-health.json", "im-go-runtime.json",
         "im-baselines.json"}
MODERN_TYPES = {"timeseries", "stat", "heatmap", "table"}


@pytest.fixture(scope="module")
def boards() -> dict[str, dict]:
    return {name: to_dict(b) for name, b in build_dashboards(None, ROOT / "rules").items()}


def exprs(board: dict) -> list[str]:
    return [t["expr"] for p in all_panels(board) for t in p["targets"]]


def panel(board: dict, title: str) -> dict:
    return next(p for p in all_panels(board) if p["title"] == title)


# --- structure ------------------------------------------------------------------------


def test_the_dashboards_and_their_frame(boards):
    assert set(boards) == NAMES
    for name, board in boards.items():
        assert board["uid"] == name.removesuffix(".json") and len(board["uid"]) <= 40
        assert board["schemaVersion"] == SCHEMA_VERSION == 41
        assert "imanalytics" in board["tags"]
        [link] = board["links"]
        assert link["type"] == "dashboards" and link["tags"] == ["imanalytics"]
        assert link["includeVars"] and link["keepTime"]
        names = [v["name"] for v in board["templating"]["list"]]
        assert names == ["datasource", "job", "instance", "tenant"]


def test_panels_are_modern_types_with_unique_ids(boards):
    for board in boards.values():
        found = list(all_panels(board))
        assert {p["type"] for p in found} <= MODERN_TYPES
        ids = [p["id"] for p in found] + [p["id"] for p in board["panels"] if p["type"] == "row"]
        assert len(ids) == len(set(ids))
        assert all(p["description"] for p in found)


def test_overview_shows_the_three_sli_layers_and_alerts(boards):
    board = boards["im-overview.json"]
    stats = [p["title"] for p in all_panels(board) if p["type"] == "stat"]
    assert stats[:3] == ["Connection availability: connections",
                         "Message reachability: failure ratio", "End-to-end latency: p95"]
    alerts = panel(board, "Alerts firing")["targets"][0]["expr"]
    assert alerts.startswith('count(ALERTS{alertstate="firing",') and "or vector(0)" in alerts


def test_messaging_has_a_bucket_heatmap_and_fanout(boards):
    board = boards["im-messaging-pipeline.json"]
    heat = panel(board, "End-to-end latency heatmap")
    assert heat["type"] == "heatmap" and heat["options"]["calculate"] is False
    [target] = heat["targets"]
    assert target["format"] == "heatmap" and target["legendFormat"] == "{{le}}"
    assert target["expr"].startswith("sum by (le) (job_instance_le:im_message_e2e_latency")
    broadcast = panel(board, "Broadcast latency by group size")["targets"]
    assert all("group_size" in t["expr"] for t in broadcast)
    assert "Status sync latency" in [p["title"] for p in all_panels(board)]


def test_api_health_breaks_down_by_path_and_status(boards):
    board = boards["im-api-health.json"]
    [target] = panel(board, "Request rates now")["targets"]
    assert target["instant"] and target["format"] == "table"
    assert target["expr"].startswith("sum by (job, path, status) (rate(im_api_requests_total{")
    ratio = panel(board, "5xx ratio by path")["targets"][0]["expr"]
    assert 'status=~"5.."' in ratio and ratio.count("$__rate_interval") == 2


def test_secondary_detail_sits_in_collapsed_rows(boards):
    rows = [p for p in boards["im-messaging-pipeline.json"]["panels"] if p["type"] == "row"]
    collapsed = [r for r in rows if r["collapsed"]]
    assert collapsed and all(r["panels"] for r in collapsed)
    assert all(not r["panels"] for r in rows if not r["collapsed"])


def test_layout_fills_the_grid_without_overlap(boards):
    for board in boards.values():
        top = board["panels"]
        _assert_no_overlap([p["gridPos"] for p in top])
        for row in (p for p in top if p["type"] == "row" and p["collapsed"]):
            inside = [p["gridPos"] for p in row["panels"]]
            _assert_no_overlap(inside)
            assert min(g["y"] for g in inside) == row["gridPos"]["y"] + 1


def _assert_no_overlap(grid: list[dict]) -> None:
    cells = set()
    for g in grid:
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24
        new = {(x, y) for x in range(g["x"], g["x"] + g["w"])
               for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & new, g
        cells |= new


def test_layout_wraps_rows_and_keeps_collapsed_panels_inside():
    a, b, c = (panels.stat(n, "d", [panels.query("up")], "short", w=10) for n in "abc")
    placed = layout([Section(None, [a, b, c]), Section("more", [a], collapsed=True),
                     Section("last", [b])])
    grids = [p.gridPos.to_json_data() for p in placed]
    assert grids[:3] == [{"h": 4, "w": 10, "x": 0, "y": 0}, {"h": 4, "w": 10, "x": 10, "y": 0},
                         {"h": 4, "w": 10, "x": 0, "y": 4}]
    assert placed[3].collapsed and placed[3].gridPos.y == 8
    assert placed[3].panels[0].gridPos.y == 9
    assert placed[4].gridPos.y == 9 and placed[5].gridPos.y == 10


def test_uids_are_stable_and_short():
    assert uid("IM overview") == "im-overview"
    long = uid("A very long dashboard title that goes on and on beyond forty chars")
    assert len(long) <= 40 and long == uid("A very long dashboard title that goes on and on "
                                           "beyond forty chars")


# --- queries --------------------------------------------------------------------------


def test_queries_read_instance_level_recording_rules(boards):
    rules = Scope.of().records
    used = {name for board in boards.values() for expr in exprs(board)
            for name in re.findall(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", expr)}
    assert used and used <= rules
    assert all(name.startswith("job_instance") for name in used)
    pending = panel(boards["im-message-queue.json"], "Pending messages by instance")
    assert pending["targets"][0]["expr"] == (
        'job_instance:im_mq_pending_messages:sum{job=~"$job",instance=~"$instance"}')
    # A metric with tenants is read raw, so the tenant picker filters it.
    sent = panel(boards["im-messaging-pipeline.json"], "Send and delivery rates")
    assert sent["targets"][0]["expr"] == (
        'sum by (job) (rate(im_messages_sent_total{job=~"$job",instance=~"$instance",'
        'tenant=~"$tenant"}[$__rate_interval]))')


def test_every_query_on_series_with_tenants_honours_the_tenant_picker(boards):
    """Each selector is checked against the catalog: a raw series whose metric has the
    tenant label filters by $tenant; a recorded one sums tenants away, so it may only be
    an SLI's (drawn per instance over all tenants)."""
    from imanalytics.dashboards.promtree import selectors
    from imanalytics.dashboards.variables import substitute
    from imanalytics.promql import parse

    cat = default_catalog()
    with_tenants = {spec.key for spec in cat if "tenant" in spec.labels}
    raw = {name: spec.key for spec in cat for name in spec.series_names()}
    tenant_metrics = {cat[key].name.removesuffix("_total") for key in with_tenants}
    sli_records = {sli.record for sli in slis()}
    checked, failures = 0, []
    for name, board in boards.items():
        for p in all_panels(board):
            for target in p["targets"]:
                tree = parse(substitute(target["expr"], {"tenant": "TENANT", "job": ".+",
                                                         "instance": ".+",
                                                         "__rate_interval": "1m"}))
                for sel in selectors(tree):
                    matchers = {(m.label, m.value) for m in sel.matchers}
                    if raw.get(sel.name) in with_tenants:
                        checked += 1
                        if (cat.tenant_label, "TENANT") not in matchers:
                            failures.append(f"{name} / {p['title']}: {sel.name}")
                    elif sel.name and sel.name.count(":") == 2:
                        metric = sel.name.split(":")[1]
                        if metric in tenant_metrics and sel.name not in sli_records:
                            failures.append(f"{name} / {p['title']}: recorded {sel.name}")
    assert checked > 20 and failures == []


def test_breakdowns_no_rule_records_fall_back_to_raw_rates(boards):
    closes = panel(boards["im-connection-layer.json"], "Connection closes by reason")
    assert closes["targets"][0]["expr"] == (
        'sum by (job, reason) (rate(im_connection_closes_total{job=~"$job",'
        'instance=~"$instance"}[$__rate_interval]))')
    tenants = panel(boards["im-messaging-pipeline.json"], "Messages sent by tenant")
    assert 'tenant=~"$tenant"' in tenants["targets"][0]["expr"]


def test_a_mapped_catalog_changes_the_queries():
    data = default_catalog().to_dict()
    data["labels"] = {"job": "service", "tenant": "org"}
    data["metrics"]["messages_sent"]["name"] = "msg_publish_total"
    mapped = Catalog.from_dict(data)
    built = {n: to_dict(b) for n, b in build_dashboards(mapped).items()}
    text = "\n".join(e for board in built.values() for e in exprs(board))
    assert "msg_publish" in text and "im_messages_sent" not in text
    assert 'service=~"$job"' in text and 'org=~"$tenant"' in text
    assert 'job=~"$job"' not in text
    variables = built["im-overview.json"]["templating"]["list"]
    assert variables[1]["query"]["query"] == "label_values(im_connections_count, service)"
    for board in built.values():
        assert errors(lint(board, catalog=mapped)) == []


def test_a_metric_added_to_the_catalog_gets_panels():
    data = default_catalog().to_dict()
    data["metrics"]["push_failures"] = {
        "name": "push_failures_total", "type": "counter", "unit": "messages",
        "help": "Push notifications that failed.", "layer": "message", "labels": ["vendor"]}
    data["metrics"]["search_duration"] = {
        "name": "im_search_duration_seconds", "type": "histogram", "unit": "seconds",
        "help": "Message search latency.", "layer": "api", "buckets": [0.1, 0.5, 1]}
    cat = Catalog.from_dict(data)
    built = {n: to_dict(b) for n, b in build_dashboards(cat).items()}
    messaging = exprs(built["im-messaging-pipeline.json"])
    assert any("sum by (job, vendor) (rate(push_failures_total" in e for e in messaging)
    api = built["im-api-health.json"]
    assert any("job_instance_le:im_search_duration_seconds_bucket" in e for e in exprs(api))
    assert "Search duration heatmap" in [p["title"] for p in all_panels(api)]
    for board in built.values():
        assert errors(lint(board, catalog=cat)) == []


def test_removed_metrics_remove_their_panels_and_empty_dashboards():
    data = default_catalog().to_dict()
    for key in ("mq_pending", "mq_consumer_lag", "gc_pause"):
        data["metrics"][key] = None
    built = {n: to_dict(b) for n, b in build_dashboards(Catalog.from_dict(data)).items()}
    assert "im-message-queue.json" not in built
    assert not any("go_gc_duration" in e for e in exprs(built["im-go-runtime.json"]))
    assert not any("im_mq_" in e for board in built.values() for e in exprs(board))


# --- thresholds and bands -------------------------------------------------------------


def _steps(board: dict, title: str) -> list[dict]:
    return panel(board, title)["fieldConfig"]["defaults"]["thresholds"]["steps"]


def test_static_thresholds_stand_in_without_tuned_alerts(boards):
    overview = boards["im-overview.json"]
    assert _steps(overview, "End-to-end latency: p95") == [
        {"color": "green", "value": None}, {"color": "red", "value": 0.8}]
    # Bad when low: red below the line.
    assert _steps(overview, "Connection availability: connections") == [
        {"color": "red", "value": None}, {"color": "green", "value": 1000}]
    e2e = panel(overview, "End-to-end delivery latency p95")
    assert e2e["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "line"


@pytest.fixture
def tuned_rules(tmp_path) -> Path:
    shutil.copy(ROOT / "rules" / generate.RECORDING_FILE, tmp_path)
    e2e = "job_instance:im_message_e2e_latency_seconds:p95_rate5m"
    conn = "job_instance:im_connections_count:sum"
    alerts = [{"name": "im-alerts", "rules": [
        {"alert": "ImE2eLatencyHigh", "expr": f"{e2e} > 0.6", "for": "10m",
         "labels": {"severity": "warning"}},
        {"alert": "ImE2eLatencyCritical", "expr": f"({e2e} > 1.2) and on() vector(1)",
         "for": "5m", "labels": {"severity": "critical"}},
        {"alert": "ImConnectionsLow", "expr": f"500 > {conn}", "for": "5m",
         "labels": {"severity": "critical"}},
    ]}]
    (tmp_path / "im-alerts.rules.yml").write_text(dump_rules(alerts))
    bands = [{"name": "im-baselines", "rules": [
        {"record": f"job_instance:im_message_e2e_latency_seconds:adaptive_band_{bound}_p95_rate5m",
         "expr": f"{e2e} * {factor}"}
        for bound, factor in (("lower", 0.5), ("upper", 1.5))]}]
    (tmp_path / "im-baselines.rules.yml").write_text(dump_rules(bands))
    return tmp_path


def test_thresholds_come_from_the_tuned_alert_rules(tuned_rules):
    built = {n: to_dict(b) for n, b in build_dashboards(None, tuned_rules).items()}
    overview = built["im-overview.json"]
    assert _steps(overview, "End-to-end latency: p95") == [
        {"color": "green", "value": None}, {"color": "orange", "value": 0.6},
        {"color": "red", "value": 1.2}]
    assert _steps(overview, "Connection availability: connections") == [
        {"color": "red", "value": None}, {"color": "green", "value": 500}]
    # A stat tile the tuned rules do not compare with a number keeps the SLO threshold...
    failures = _steps(overview, "Message reachability: failure ratio")
    assert failures == [{"color": "green", "value": None}, {"color": "red", "value": 0.05}]
    assert "tuned alert rules" in panel(overview, "End-to-end latency: p95")["description"]
    # ...while the time series of that SLI gets no threshold line.
    line = next(p for p in all_panels(overview) if p["type"] == "timeseries"
                and p["title"] == "Message delivery failure ratio")
    assert line["fieldConfig"]["defaults"]["thresholds"]["steps"] == [
        {"color": "green", "value": None}]


def test_baselines_draw_bands_where_recorded(boards, tuned_rules):
    built = {n: to_dict(b) for n, b in build_dashboards(None, tuned_rules).items()}
    e2e = panel(built["im-baselines.json"], "End-to-end delivery latency p95 on $instance")
    queries = [t["expr"] for t in e2e["targets"]]
    assert len(queries) == 3 and queries[2].startswith(
        "job_instance:im_message_e2e_latency_seconds:adaptive_band_upper_p95_rate5m{")
    # Without a rule file naming them, the band reads any strategy's exported band rules.
    committed = panel(boards["im-baselines.json"],
                      "End-to-end delivery latency p95 on $instance")
    lower, upper = (t["expr"] for t in committed["targets"][1:])
    assert lower.startswith('{__name__=~"job_instance:im_message_e2e_latency_seconds:'
                            '[a-z_]+_lower_p95_rate5m",job=~"$job",')
    assert "_upper_p95_rate5m" in upper
    # The upper edge is filled down to the lower one, and each panel repeats per instance.
    fill = {o["matcher"]["options"]: {p["id"]: p["value"] for p in o["properties"]}
            for o in committed["fieldConfig"]["overrides"]}
    assert fill["baseline upper"]["custom.fillBelowTo"] == "baseline lower"
    assert fill["baseline upper"]["custom.fillOpacity"] > 0
    assert [t["legendFormat"] for t in committed["targets"][1:]] == [
        "baseline lower", "baseline upper"]
    assert committed["repeat"] == "instance"
    assert errors(lint(built["im-baselines.json"])) == []


def test_the_band_query_matches_every_exportable_strategy():
    from imanalytics.baselines.promql_native import AdaptiveBand, WeekOverWeekZScore, rule_name

    scope = Scope.of()
    for sli in slis():
        for bound in ("lower", "upper"):
            pattern = re.search(r'__name__=~"([^"]+)"', scope.sli_band(sli, bound))[1]
            # The names `to_rules` gives a strategy's band, and none of its other rules.
            for strategy in (AdaptiveBand.strategy, WeekOverWeekZScore.strategy):
                names = [rule_name(sli.record, f"{strategy}_{key}")
                         for key in ("prediction", "spread", "lower", "upper", "zscore")]
                matched = [n for n in names if re.fullmatch(pattern, n)]
                assert matched == [rule_name(sli.record, f"{strategy}_{bound}")]


def test_a_missing_rules_directory_is_an_error(tmp_path, capsys):
    missing = tmp_path / "nonexistent"
    code = main(["build-dashboards", "--out", str(tmp_path / "out"), "--rules", str(missing)])
    err = capsys.readouterr().err
    assert code == 1 and str(missing) in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_every_sli_is_on_the_baselines_dashboard(boards):
    titles = {p["title"] for p in all_panels(boards["im-baselines.json"])}
    assert titles == {f"{sli.title} on $instance" for sli in slis()}


# --- lint -----------------------------------------------------------------------------


def test_every_dashboard_passes_lint(boards):
    for board in boards.values():
        assert lint(board, catalog=default_catalog()) == []


def _first(board: dict, kind: str = "timeseries") -> dict:
    return next(p for p in all_panels(board) if p["type"] == kind)


def _variable(board: dict, name: str) -> dict:
    return next(v for v in board["templating"]["list"] if v["name"] == name)


def _set_expr(expr: str):
    def mutate(board):
        _first(board)["targets"][0]["expr"] = expr
    return mutate


BREAKERS = {
    "template-datasource": lambda b: b["templating"]["list"].pop(0),
    "template-job": lambda b: _variable(b, "job").update(multi=False),
    "template-instance": lambda b: _variable(b, "instance").update(allValue=".*"),
    "template-label-promql": lambda b: _variable(b, "job").update(
        query="label_values(up{, job)"),
    "panel-datasource": lambda b: _first(b).update(datasource={"uid": "prometheus-prod"}),
    "panel-title-description": lambda b: _first(b).update(description=""),
    "panel-units": lambda b: _first(b)["fieldConfig"]["defaults"].update(unit="furlongs"),
    "panel-no-targets": lambda b: _first(b).update(targets=[]),
    "panel-modern-type": lambda b: _first(b).update(type="graph"),
    "target-promql": _set_expr('sum(rate(x_total{job=~"$job",instance=~"$instance"}[5m)'),
    "target-rate-interval": _set_expr(
        'sum(rate(im_messages_sent_total{job=~"$job",instance=~"$instance"}[5m]))'),
    "target-job": _set_expr('job_instance:im_messages_sent:rate5m{instance=~"$instance"}'),
    "target-instance": _set_expr('job_instance:im_messages_sent:rate5m{job=~"$job"}'),
    "target-counter-agg": _set_expr(
        'rate(im_messages_sent_total{job=~"$job",instance=~"$instance"}[$__rate_interval])'),
}


def test_every_rule_has_a_breaking_case():
    assert set(BREAKERS) == set(RULES)


@pytest.mark.parametrize("rule", sorted(BREAKERS))
def test_lint_catches_a_broken_dashboard(boards, rule):
    board = copy.deepcopy(boards["im-overview.json"])
    BREAKERS[rule](board)
    found = errors(lint(board, catalog=default_catalog()))
    assert rule in {f.rule for f in found}, found
    assert all(f.dashboard == "IM overview" for f in found)


def test_counter_agg_knows_catalog_counters_without_total(boards):
    board = copy.deepcopy(boards["im-overview.json"])
    _set_expr('im_message_e2e_latency_seconds_count{job=~"$job",instance=~"$instance"}')(board)
    assert errors(lint(board)) == []  # without the catalog only _total names are counters
    assert {f.rule for f in lint(board, catalog=default_catalog())} == {"target-counter-agg"}


def test_lint_flags_what_it_cannot_verify_without_a_server(boards):
    board = copy.deepcopy(boards["im-overview.json"])
    _set_expr('info(job_instance:im_messages_sent:rate5m{job=~"$job",'
              'instance=~"$instance"})')(board)
    [finding] = lint(board)
    assert finding.severity == "warning" and "info" in finding.message


# --- generation -----------------------------------------------------------------------


def test_json_is_deterministic_and_canonical(tmp_path):
    first = dashboard_artifacts(tmp_path, None, ROOT / "rules")
    second = dashboard_artifacts(tmp_path, None, ROOT / "rules")
    assert [(a.path, a.text) for a in first] == [(a.path, a.text) for a in second]
    for artifact in (a for a in first if a.path.suffix == ".json"):
        data = json.loads(artifact.text)
        assert artifact.text == json.dumps(data, sort_keys=True, indent=2,
                                           ensure_ascii=False) + "\n"


def test_committed_dashboards_are_fresh():
    artifacts = dashboard_artifacts(ROOT / "dashboards", None, ROOT / "rules")
    assert generate.stale(artifacts) == []
    assert {p.name for p in (ROOT / "dashboards").glob("*.json")} == NAMES


def test_cli_writes_then_checks(tmp_path, capsys):
    out = tmp_path / "dash"
    args = ["build-dashboards", "--out", str(out), "--rules", str(ROOT / "rules")]
    assert main(args) == 0
    assert {p.name for p in out.iterdir()} == NAMES | {"provisioning"}
    assert main([*args, "--check"]) == 0
    (out / "im-overview.json").write_text("{}\n")
    capsys.readouterr()
    assert main([*args, "--check"]) == 1
    err = capsys.readouterr().err
    assert "im-overview.json" in err and "build-dashboards" in err
    assert "im-api-health.json" not in err


def _example(doc: str) -> str:
    """The indented literal block after the first ``::`` of a docstring."""
    lines = []
    for line in doc.split("::\n", 1)[1].splitlines():
        if line.strip() and not line.startswith(" "):
            break
        lines.append(line)
    return textwrap.dedent("\n".join(lines))


def test_the_package_docstring_example_runs(tmp_path, monkeypatch):
    example = _example(dashboards_pkg.__doc__)
    example = example.replace('load_catalog("my-catalog.yaml")', "load_catalog()")
    monkeypatch.chdir(tmp_path)
    exec(compile(example, "example", "exec"), {})
    board = json.loads((tmp_path / "team-chat.json").read_text())
    assert board["title"] == "Team chat" and lint(board, catalog=default_catalog()) == []
