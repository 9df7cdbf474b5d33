"""Engine detection: real Prometheus and VictoriaMetrics, and scripted servers for the
engines and failures this machine cannot run (Thanos, Mimir, HTML pages, no buildinfo)."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

import numpy as np
import pytest
from loopback_http import LoopbackHTTP

from imanalytics.cli import main
from imanalytics.samples import Series
from imanalytics.source import AccessDenied, PromSource, ServerUnreachable
from imanalytics.source.engines import EngineError, EngineWarning, trim

JSON = {"Content-Type": "application/json"}


class Scripted(LoopbackHTTP):
    """A loopback server answering fixed (status, headers, body) per path, 404 elsewhere."""

    def __init__(self, routes: dict):
        self.routes = routes
        super().__init__(_Handler)


class _Handler(BaseHTTPRequestHandler):
    fake: Scripted

    def do_GET(self):  # noqa: N802 - the http.server API
        path = self.path.split("?")[0]
        status, headers, body = self.fake.routes.get(path, (404, {}, "404 page not found"))
        body = body if isinstance(body, str) else json.dumps(body)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


def _buildinfo(data: dict) -> dict:
    return {"/api/v1/status/buildinfo": (200, JSON, {"status": "success", "data": data})}


def test_real_servers_are_named(prom, victoria):
    prometheus = PromSource(prom.url).engine
    assert prometheus.name == "Prometheus" and prometheus.version[0].isdigit()
    assert prometheus.semantics == "Prometheus"
    vm = PromSource(victoria.url).engine
    assert vm.name == "VictoriaMetrics" and vm.semantics == "VictoriaMetrics"
    assert str(vm).startswith("VictoriaMetrics")


def test_thanos_and_mimir_from_what_they_answer():
    stores = {"/api/v1/stores": (200, JSON, {"status": "success", "data": {}})}
    with Scripted(_buildinfo({"version": "0.32.5"}) | stores) as thanos:
        assert str(PromSource(thanos.url).engine) == "Thanos 0.32.5"
    with Scripted(_buildinfo({"application": "Grafana Mimir", "version": "2.10.0"})) as mimir:
        engine = PromSource(mimir.url).engine
        assert (engine.name, engine.version, engine.left_open) == ("Mimir", "2.10.0", None)


def test_unknown_engine_without_buildinfo_warns_and_still_pulls():
    query = {"/api/v1/query": (200, JSON, {"status": "success", "data": {
        "resultType": "vector", "result": [{"metric": {"a": "1"}, "value": [1700000000, "3"]}]}})}
    with Scripted(query) as server, pytest.warns(EngineWarning, match="no /api/v1/status/"):
        source = PromSource(server.url)
        assert source.engine.name == "unknown engine" and source.version == ""
        assert source.instant("x", 1700000000).iloc[0, 0] == 3.0
    with Scripted(_buildinfo({})) as empty, pytest.warns(EngineWarning, match="no version"):
        assert PromSource(empty.url).engine.left_open is None


def test_html_answer_is_named(capsys):
    page = {"/api/v1/status/buildinfo": (200, {"Content-Type": "text/html"},
                                         "<html><body>Grafana</body></html>")}
    with Scripted(page) as server:
        with pytest.raises(EngineError, match="HTML page .* not the Prometheus API"):
            _ = PromSource(server.url).engine
        assert main(["inventory", "--url", server.url]) == 1
    err = capsys.readouterr().err
    assert "HTML page" in err and "Traceback" not in err


def test_trim_keeps_the_closed_span():
    s = Series({"a": "1"}, np.array([9, 10, 11, 20, 21]), np.arange(5.0))
    (kept,) = trim([s], 10, 20)
    assert kept.t.tolist() == [10, 11, 20] and kept.v.tolist() == [1.0, 2.0, 3.0]
    assert trim([s], 30, 40) == []


def test_version_given_by_the_caller_skips_detection(prom):
    source = PromSource(prom.url, version="3.1.0")
    assert str(source.engine) == "Prometheus 3.1.0" and source.engine.left_open
    with pytest.raises(EngineError, match="cannot read the Prometheus version"):
        _ = PromSource(prom.url, version="latest").engine


def test_refused_credentials_and_silence_are_named():
    denied = {"/api/v1/status/buildinfo": (401, {}, "Unauthorized")}
    with Scripted(denied) as server, pytest.raises(AccessDenied, match="credentials"):
        _ = PromSource(server.url).engine
    gone = Scripted({})
    url = gone.url
    gone.httpd.server_close()  # the port is closed: nothing answers there
    with pytest.raises(ServerUnreachable, match="after 1 attempt"):
        _ = PromSource(url, retries=0, timeout=5).engine
