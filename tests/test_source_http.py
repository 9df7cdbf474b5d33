"""PromSource's transport against scripted loopback servers: retries, errors, warnings,
credentials and TLS really reaching a server, and secrets never leaking."""

from __future__ import annotations

import base64
import json
import logging
import ssl
import subprocess
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from loopback_http import LoopbackHTTP

from imanalytics.sandbox.processes import free_port
from imanalytics.source import (
    AccessDenied,
    PrometheusWarning,
    PromSource,
    QueryError,
    ServerUnreachable,
    SourceError,
)

VECTOR = {"status": "success", "data": {"resultType": "vector", "result": [
    {"metric": {"__name__": "up", "job": "im"}, "value": [1700000000, "1"]}]}}
DEFAULTS = {
    "/api/v1/query": VECTOR,
    "/api/v1/query_range": {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"job": "im"}, "values": [[1700000000, "1"], [1700000015, "2"]]}]}},
    "/api/v1/status/buildinfo": {"status": "success", "data": {"version": "2.42.0"}},
}
PASSWORD = "pa55-w0rd-secret"
TOKEN = "tok-3f9a-secret"
ORG = "org-7c1d-secret"


class FakePrometheus(LoopbackHTTP):
    """A loopback HTTP(S) server: scripted replies first, then per-path defaults.

    Records every request; with `auth` set, answers 401 unless the Authorization header
    is exactly that value.
    """

    def __init__(self, replies=(), auth: str | None = None, tls: ssl.SSLContext | None = None):
        self.replies = list(replies)
        self.auth = auth
        self.seen: list[dict] = []
        super().__init__(_Handler, tls=tls)

    def answer(self, request: dict) -> tuple[int, dict, bytes]:
        self.seen.append(request)
        if self.auth is not None and request["headers"].get("Authorization") != self.auth:
            return 401, {}, b"Unauthorized"
        if self.replies:
            status, headers, body = self.replies.pop(0)
        else:
            status, headers, body = 200, {}, DEFAULTS.get(request["path"], VECTOR)
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        return status, headers, body


class _Handler(BaseHTTPRequestHandler):
    fake: FakePrometheus

    def do_GET(self):
        self._reply(urlsplit(self.path).query)

    def do_POST(self):
        self._reply(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())

    def _reply(self, query: str) -> None:
        peer = self.connection.getpeercert() if hasattr(self.connection, "getpeercert") else None
        status, headers, body = self.fake.answer({
            "method": self.command, "path": urlsplit(self.path).path, "params": parse_qs(query),
            "headers": dict(self.headers), "peer": peer,
        })
        self.send_response(status)
        for key, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _error(status: int, error_type: str, error: str, headers=None):
    return status, headers or {}, {"status": "error", "errorType": error_type, "error": error}


def _source(url: str, **options) -> PromSource:
    options.setdefault("backoff", 0.01)
    return PromSource(url, progress=False, **options)


@pytest.fixture(autouse=True)
def _no_ambient_credentials(monkeypatch):
    for name in ("IMANALYTICS_BEARER_TOKEN", "IMANALYTICS_BEARER_TOKEN_FILE", "PROMETHEUS_URL"):
        monkeypatch.delenv(name, raising=False)


# -- retries and errors ---------------------------------------------------------------------

def test_5xx_is_retried_until_it_succeeds():
    busy = [(503, {}, b"busy"), (502, {}, b"bad gateway"), _error(503, "unavailable", "x"),
            _error(500, "internal", "storage hiccup")]
    with FakePrometheus(busy) as fake:
        frame = _source(fake.url, retries=4).instant("up")
    assert frame.iloc[0, 0] == 1.0 and len(fake.seen) == 5


def test_429_honours_retry_after():
    with FakePrometheus([(429, {"Retry-After": "1"}, b"slow down")]) as fake:
        began = time.monotonic()
        _source(fake.url, backoff=0).instant("up")
        assert time.monotonic() - began >= 0.75  # jitter keeps at least 80 % of the wait
    assert len(fake.seen) == 2


def test_persistent_5xx_names_server_and_attempts():
    with FakePrometheus([(503, {}, b"down")] * 5) as fake:
        port = fake.url.rsplit(":", 1)[1]
        with pytest.raises(ServerUnreachable) as info:
            _source(f"http://admin:{PASSWORD}@127.0.0.1:{port}", retries=2).instant("up")
    message = str(info.value)
    assert f"http://127.0.0.1:{port}" in message and "3 attempts" in message
    assert "HTTP 503" in message and PASSWORD not in message and "admin" not in message
    assert len(fake.seen) == 3


def test_a_closed_port_is_unreachable_after_the_retries():
    port = free_port()
    began = time.monotonic()
    with pytest.raises(ServerUnreachable) as info:
        _source(f"http://127.0.0.1:{port}", retries=2, backoff=0.05).instant("up")
    assert time.monotonic() - began >= 0.1  # 0.05 + 0.1 s of backoff, less jitter
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message and "3 attempts" in message
    assert "refused" in message.lower()


@pytest.mark.parametrize("status, error_type, error", [
    (400, "bad_data", "1:5: parse error: unexpected end of input"),
    (422, "execution", "query processing would load too many samples into memory"),
    (503, "timeout", "query timed out in expression evaluation"),
])
def test_query_errors_are_not_retried(status, error_type, error):
    with FakePrometheus([_error(status, error_type, error)]) as fake:
        with pytest.raises(QueryError) as info:
            _source(fake.url).instant("sum(rate(im_x[5m]))")
    assert str(info.value) == (
        f"Prometheus could not evaluate sum(rate(im_x[5m])): {error_type}: {error}")
    assert info.value.error_type == error_type and len(fake.seen) == 1


def test_warnings_become_python_warnings():
    reply = dict(VECTOR, warnings=["remote read: partial response from store-2"])
    with FakePrometheus([(200, {}, reply)]) as fake:
        with pytest.warns(PrometheusWarning, match="partial response from store-2") as caught:
            frame = _source(fake.url).instant("up")
    assert "up" in str(caught[0].message) and frame.shape == (1, 1)


def test_401_is_access_denied_without_retry():
    with FakePrometheus(auth="Bearer right") as fake:
        with pytest.raises(AccessDenied, match="HTTP 401.*check the credentials"):
            _source(fake.url, bearer_token="wrong").instant("up")
    assert len(fake.seen) == 1


def test_a_non_prometheus_reply_is_named():
    with FakePrometheus([(200, {"Content-Type": "text/html"}, b"<html>login</html>")]) as fake:
        with pytest.raises(SourceError, match="did not answer like the Prometheus API"):
            _source(fake.url).instant("up")


def test_native_histograms_are_refused():
    reply = {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"__name__": "h"}, "histogram": [1700000000, {"count": "1"}]}]}}
    with FakePrometheus([(200, {}, reply)]) as fake:
        with pytest.raises(QueryError, match="native histogram"):
            _source(fake.url).instant("h")


def test_long_expressions_are_posted():
    expr = "up{job=~\"" + "|".join(f"job-{i}" for i in range(600)) + "\"}"
    with FakePrometheus() as fake:
        _source(fake.url).instant(expr)
    assert fake.seen[0]["method"] == "POST" and fake.seen[0]["params"]["query"] == [expr]


def test_loopback_replies_are_not_compressed_unless_asked():
    with FakePrometheus() as fake:
        _source(fake.url).instant("up")
        _source(fake.url, compress=True).instant("up")
    assert fake.seen[0]["headers"]["Accept-Encoding"] == "identity"
    assert "gzip" in fake.seen[1]["headers"]["Accept-Encoding"]


def test_a_missing_url_is_explained(monkeypatch):
    with pytest.raises(SourceError, match="PROMETHEUS_URL"):
        PromSource()
    with FakePrometheus() as fake:
        monkeypatch.setenv("PROMETHEUS_URL", fake.url)
        assert PromSource().url == fake.url
    with pytest.raises(SourceError, match="not a Prometheus URL"):
        PromSource("localhost:9090")


# -- credentials ----------------------------------------------------------------------------

def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_basic_auth_reaches_the_server():
    with FakePrometheus(auth=_basic("admin", PASSWORD)) as fake:
        _source(fake.url, basic_auth=("admin", PASSWORD)).instant("up")
        with pytest.raises(AccessDenied):
            _source(fake.url, basic_auth=("admin", "wrong")).instant("up")


def test_credentials_in_the_url_become_basic_auth():
    with FakePrometheus(auth=_basic("admin", "p@ss:word")) as fake:
        host = fake.url.split("//")[1]
        source = _source(f"http://admin:p%40ss%3Aword@{host}/")
        source.instant("up")
    assert source.url == fake.url and "p@ss" not in repr(source)


def test_bearer_token_from_argument_env_and_file(monkeypatch, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    with FakePrometheus(auth=f"Bearer {TOKEN}") as fake:
        _source(fake.url, bearer_token=TOKEN).instant("up")
        _source(fake.url, bearer_token_file=token_file).instant("up")
        monkeypatch.setenv("IMANALYTICS_BEARER_TOKEN", TOKEN)
        _source(fake.url).instant("up")
        monkeypatch.delenv("IMANALYTICS_BEARER_TOKEN")
        monkeypatch.setenv("IMANALYTICS_BEARER_TOKEN_FILE", str(token_file))
        _source(fake.url).instant("up")
    assert len(fake.seen) == 4


def test_explicit_basic_auth_wins_over_the_env_token(monkeypatch):
    monkeypatch.setenv("IMANALYTICS_BEARER_TOKEN", TOKEN)
    with FakePrometheus(auth=_basic("admin", PASSWORD)) as fake:
        _source(fake.url, basic_auth=("admin", PASSWORD)).instant("up")
    with pytest.raises(SourceError, match="not both"):
        PromSource("http://127.0.0.1:9", basic_auth=("a", "b"), bearer_token="c")


def test_custom_headers_reach_the_server():
    with FakePrometheus() as fake:
        _source(fake.url, headers={"X-Scope-OrgID": ORG}).instant("up")
    assert fake.seen[0]["headers"]["X-Scope-OrgID"] == ORG


def test_secrets_never_leak(caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    echo = _error(400, "bad_data", f"cannot parse {TOKEN} or {ORG}")
    with FakePrometheus([echo, (503, {}, f"proxy saw {ORG}".encode())]) as fake:
        source = _source(fake.url, bearer_token=TOKEN, headers={"X-Scope-OrgID": ORG},
                         retries=0, cache=tmp_path / "cache")
        messages = [repr(source)]
        for _ in range(2):
            with pytest.raises(SourceError) as info:
                source.instant("up")
            messages.append(str(info.value))
        source.range("up", 1700000000, 1700000015, "15s")
        port = fake.url.rsplit(":", 1)[1]
    with_password = _source(f"http://admin:{PASSWORD}@127.0.0.1:{port}", retries=0)
    with pytest.raises(ServerUnreachable) as info:
        with_password.instant("up")
    messages += [str(info.value), repr(with_password), with_password.url]
    assert "bearer_token=***" in messages[0] and "'X-Scope-OrgID': ***" in messages[0]
    assert "cannot parse *** or ***" in messages[1]
    cached = b"".join(p.read_bytes() for p in (tmp_path / "cache").rglob("*") if p.is_file())
    assert b"parquet" in cached.lower() or b"PAR1" in cached  # the range pull was cached
    for text in [*messages, caplog.text, cached.decode("latin-1")]:
        for secret in (TOKEN, ORG, PASSWORD):
            assert secret not in text


# -- TLS ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate."""
    root = tmp_path_factory.mktemp("pki")
    (root / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")

    def run(*args):
        subprocess.run(["openssl", *args], cwd=root, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
        "-days", "2", "-subj", "/CN=imanalytics test CA")
    for name, extra in (("server", ["-extfile", "san.ext"]), ("client", [])):
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
            f"{name}.csr", "-subj", f"/CN=imanalytics-{name}")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", *extra)
    return root


def _tls(pki: Path, require_client: bool = False) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "server.crt", pki / "server.key")
    if require_client:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(pki / "ca.crt")
    return context


def test_tls_verification_is_on_by_default(pki):
    with FakePrometheus(tls=_tls(pki)) as fake:
        with pytest.raises(ServerUnreachable, match="certificate verify failed.*ca_bundle"):
            _source(fake.url).instant("up")
        assert fake.seen == []


def test_tls_with_the_ca_bundle_or_without_verification(pki):
    with FakePrometheus(tls=_tls(pki)) as fake:
        assert _source(fake.url, ca_bundle=pki / "ca.crt").instant("up").shape == (1, 1)
        with pytest.warns(Warning, match="Unverified HTTPS"):
            assert _source(fake.url, verify=False).instant("up").shape == (1, 1)
    assert len(fake.seen) == 2


def test_tls_client_certificates(pki):
    with FakePrometheus(tls=_tls(pki, require_client=True)) as fake:
        with pytest.raises(ServerUnreachable) as info:
            _source(fake.url, ca_bundle=pki / "ca.crt", retries=0).instant("up")
        assert "client_cert=" in str(info.value) and "verify=False" not in str(info.value)
        assert "instant" not in str(info.value) and "for up" in str(info.value)
        _source(fake.url, ca_bundle=pki / "ca.crt",
                client_cert=(pki / "client.crt", pki / "client.key")).instant("up")
    subject = dict(item[0] for item in fake.seen[-1]["peer"]["subject"])
    assert subject["commonName"] == "imanalytics-client"


def test_missing_tls_files_are_named(pki):
    with pytest.raises(SourceError, match="TLS file not found: .*nope.pem"):
        PromSource("https://127.0.0.1:9", ca_bundle=pki / "nope.pem")
