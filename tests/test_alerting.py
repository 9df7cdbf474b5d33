"""Alert rules, their promtool tests, Alertmanager routing and the Pushgateway, on real tools."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest
import yaml

from imanalytics.alerting import AlertmanagerSettings, Robots
from imanalytics.alerting.alertmanager import TEMPLATE_FILE, dump_config, message_template
from imanalytics.frames import parse_series
from imanalytics.promql import evaluate
from imanalytics.pushgateway import PushError, push_run_metrics
from imanalytics.rules import (
    AlertCase,
    RuleFileError,
    alert_groups,
    alert_test_file,
    check_rules,
    dump_rules,
    firing,
    run_rule_tests,
    static_alert,
)
from imanalytics.rules.templates import expand, humanize, humanize_duration, humanize_percentage
from imanalytics.samples import Series
from imanalytics.sandbox.services import AlertmanagerSandbox, PushgatewaySandbox
from imanalytics.sandbox.tools import find_tool
from imanalytics.sandbox.workload import simulate
from imanalytics.slis import slis

SLIS = {s.key: s for s in slis()}


def test_alerts_follow_the_conventions():
    rule = static_alert(SLIS["delivery_failure_ratio"]).as_dict()
    assert rule["alert"] == "ImDeliveryFailureRatioHigh"
    assert rule["labels"]["severity"] == "critical" and rule["for"] == "5m"
    assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}
    assert "$labels.instance" in rule["annotations"]["description"]
    assert "$value" in rule["annotations"]["description"]
    assert static_alert(SLIS["connections"]).name == "ImConnectionsLow"
    assert " < " in static_alert(SLIS["connections"]).expr


def test_a_bad_severity_is_refused():
    with pytest.raises(ValueError, match="severity must be one of"):
        static_alert(SLIS["goroutines"], severity="page")


def test_humanize_matches_prometheus_examples():
    # Expected strings from Prometheus' template/template_test.go.
    assert humanize(1234567.0) == "1.235M"
    assert humanize(0.0012345) == "1.234m"
    assert humanize(0) == "0"
    assert humanize_duration(1) == "1s"
    assert humanize_duration(60) == "1m 0s"
    assert humanize_duration(3600) == "1h 0m 0s"
    assert humanize_duration(86400 + 3661) == "1d 1h 1m 1s"
    assert humanize_duration(0.1234) == "123.4ms"
    assert humanize_percentage(0.1234567) == "12.35%"


def test_templates_outside_the_supported_subset_are_refused():
    with pytest.raises(ValueError, match="unsupported template construct"):
        expand('{{ template "other" . }}', {}, 1.0)


@pytest.fixture(scope="module")
def incident_cases():
    wl = simulate(instances=2, days=3, seed=4,
                  incidents=["message_loss", "latency_regression", "api_5xx_burst"])
    cases = []
    for sli in SLIS.values():
        kinds = [i for i in wl.incidents if i.kind in sli.incident_kinds]
        if not kinds:
            continue
        # A lowered threshold so that every one of these incidents pages.
        alert = static_alert(sli, threshold=sli.static_threshold / 5)
        window = _sli_window(wl, sli, kinds[0].start, kinds[0].end)
        cases.append(AlertCase(alert, window, list(range(20, 150, 10)), f"{alert.name}"))
    return cases


def _sli_window(wl, sli, start, end) -> list[Series]:
    start, end = start.floor("1min") - pd.Timedelta("60min"), end.ceil("1min") + pd.Timedelta("1h")
    frame = evaluate(sli.expr, wl.series, start, end, "1m")
    grid = np.arange(len(frame), dtype=np.int64) * 60_000
    return [Series({**parse_series(c), "__name__": sli.record}, grid, frame[c].to_numpy())
            for c in frame.columns]


def test_predicted_alerts_fire_on_incidents(incident_cases):
    fired = {c.alert.name: sum(len(firing(c.alert, c.inputs, m)) for m in c.eval_minutes)
             for c in incident_cases}
    assert len(fired) == 4 and all(fired.values()), fired


def test_promtool_agrees_with_the_predicted_alerts(tmp_path, incident_cases):
    rules = tmp_path / "alerts.rules.yml"
    rules.write_text(dump_rules(alert_groups([c.alert for c in incident_cases])))
    check_rules(rules)
    tests = tmp_path / "alerts.test.yml"
    tests.write_text(alert_test_file([rules.name], incident_cases))
    assert "SUCCESS" in run_rule_tests(tests)
    doc = yaml.safe_load(tests.read_text())
    check = next(c for t in doc["tests"] for c in t["alert_rule_test"] if c["exp_alerts"])
    check["exp_alerts"][0]["exp_annotations"]["description"] += " (changed)"
    tests.write_text(yaml.safe_dump(doc))
    with pytest.raises(RuleFileError, match=check["alertname"]):
        run_rule_tests(tests)


# --- Alertmanager ---------------------------------------------------------------------


class _Capture(BaseHTTPRequestHandler):
    received: dict[str, list[dict]] = {}

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.setdefault(self.path, []).append(body)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def capture():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    _Capture.received = {}
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Capture.received
    server.shutdown()


def _settings(base: str) -> AlertmanagerSettings:
    return AlertmanagerSettings(
        oncall=Robots(dingtalk=f"{base}/dingtalk", wecom=f"{base}/wecom"),
        tenants={"acme": Robots(dingtalk=f"{base}/acme")},
        group_wait="1s", group_interval="1s", repeat_interval="1h")


def test_amtool_accepts_the_config_and_renders_the_template(tmp_path):
    (tmp_path / "alertmanager.yml").write_text(dump_config(_settings("http://127.0.0.1:9")))
    (tmp_path / TEMPLATE_FILE).write_text(message_template())
    amtool = find_tool("amtool")
    subprocess.run([amtool, "check-config", str(tmp_path / "alertmanager.yml")], check=True,
                   capture_output=True)
    out = subprocess.run(
        [amtool, "template", "render", f"--template.glob={tmp_path / TEMPLATE_FILE}",
         "--template.text", '{{ range .Alerts }}{{ template "im.alert" . }}{{ end }}'],
        check=True, capture_output=True, text=True).stdout
    assert "instance: foo.bar:1234" in out and "[runbook]" in out


def _alert(name, severity, layer, instance, **labels) -> dict:
    return {"labels": {"alertname": name, "severity": severity, "layer": layer,
                       "job": "im-server", "instance": instance, **labels},
            "annotations": {"summary": name}}


def test_alertmanager_routes_and_inhibits(capture):
    base, received = capture
    alerts = [
        _alert("ImDeliveryFailureRatioHigh", "critical", "message", "a", tenant="acme",
               trace_id="t-123"),
        _alert("ImApiErrorRatioHigh", "warning", "api", "a"),  # silenced: critical on a
        _alert("ImConnectionsLow", "critical", "connection", "b"),
        _alert("ImProcessingLatencyP99High", "critical", "message", "b"),  # silenced
        _alert("ImMqConsumerLagHigh", "warning", "queue", "c"),
    ]
    with AlertmanagerSandbox(dump_config(_settings(base)),
                             {TEMPLATE_FILE: message_template()}) as am:
        request = urllib.request.Request(f"{am.url}/api/v2/alerts", method="POST",
                                         data=json.dumps(alerts).encode(),
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10).close()
        got = _wait_for(received, {"/dingtalk": 2, "/wecom": 3, "/acme": 1})
    assert got["/dingtalk"] == {"ImDeliveryFailureRatioHigh", "ImConnectionsLow"}
    assert got["/wecom"] == {"ImDeliveryFailureRatioHigh", "ImConnectionsLow",
                             "ImMqConsumerLagHigh"}
    assert got["/acme"] == {"ImDeliveryFailureRatioHigh"}
    payload = received["/acme"][0]["alerts"][0]
    assert payload["labels"]["trace_id"] == "t-123"


def _wait_for(received, counts, timeout=20.0) -> dict[str, set]:
    deadline = time.monotonic() + timeout
    while True:
        got = {path: {a["labels"]["alertname"] for body in bodies for a in body["alerts"]}
               for path, bodies in list(received.items())}
        if all(len(got.get(p, ())) >= n for p, n in counts.items()):
            time.sleep(2)  # anything that should have been silenced has had its chance
            return {path: {a["labels"]["alertname"] for body in bodies for a in body["alerts"]}
                    for path, bodies in list(received.items())}
        if time.monotonic() > deadline:
            return got
        time.sleep(0.2)


# --- Pushgateway ----------------------------------------------------------------------


def test_run_metrics_reach_a_real_pushgateway():
    with PushgatewaySandbox() as gateway:
        push_run_metrics(gateway.url, "imanalytics_review",
                         {"imanalytics_review_candidates": (312, "Candidates evaluated.")},
                         grouping={"catalog": "default"})
        text = urllib.request.urlopen(f"{gateway.url}/metrics", timeout=10).read().decode()
    line = next(x for x in text.splitlines() if x.startswith("imanalytics_review_candidates{"))
    assert 'job="imanalytics_review"' in line and 'catalog="default"' in line
    assert line.endswith(" 312")


def test_an_unreachable_pushgateway_is_a_clear_error():
    with pytest.raises(PushError, match="127.0.0.1:9"):
        push_run_metrics("http://127.0.0.1:9", "x", {"a": (1, "a")}, timeout=2)
