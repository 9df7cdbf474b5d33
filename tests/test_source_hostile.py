"""PromSource against a hostile Prometheus (proxies, load balancers, broken servers).

Each case checks the exception type, that the message names the expression, how many
requests reached the server, and an upper bound on the wall time (a guard against hangs,
generous for a loaded machine).
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import logging
import os
import subprocess
import sys
import time
import warnings

import pytest
from hostile_prometheus import (
    T0,
    HostilePrometheus,
    bad_gzip,
    body_of,
    echo,
    matrix,
    redirect,
    reply,
    reset_mid_body,
    short_body,
    trickle,
    trickle_headers,
    up_matrix,
)

from imanalytics.cache import CacheMiss
from imanalytics.source import (
    DeadlineExceeded,
    PromSource,
    QueryError,
    ServerUnreachable,
    SourceError,
    TooManyPoints,
)

EXPR = 'sum by (job) (rate(im_messages_sent_total{job="im"}[5m]))'
START, END = T0, T0 + 15  # two points at a 15 s step


def _source(url: str, **options) -> PromSource:
    options.setdefault("backoff", 0.01)
    options.setdefault("max_series", None)  # no count queries: one request per pull
    return PromSource(url, progress=False, **options)


@contextlib.contextmanager
def _within(seconds: float):
    began = time.monotonic()
    yield
    assert time.monotonic() - began < seconds


def _fails(exc_type, fn, seconds: float, *names: str):
    """Run `fn`, expecting `exc_type` within `seconds`, its message naming all `names`."""
    with _within(seconds), pytest.raises(exc_type) as info:
        fn()
    for name in names:
        assert name in str(info.value)
    return str(info.value)


@pytest.fixture(autouse=True)
def _no_ambient_credentials(monkeypatch):
    for name in ("IMANALYTICS_BEARER_TOKEN", "IMANALYTICS_BEARER_TOKEN_FILE", "PROMETHEUS_URL"):
        monkeypatch.delenv(name, raising=False)


# -- 1. identities in the cache ------------------------------------------------------------

def _by_identity(request) -> dict:
    h = request["headers"]
    who = h.get("X-Scope-OrgID", "") + h.get("Authorization", "")
    return up_matrix(value=str(sum(map(ord, who))))


@pytest.mark.parametrize("a, b", [
    ({"headers": {"X-Scope-OrgID": "tenant-a"}}, {"headers": {"X-Scope-OrgID": "tenant-b"}}),
    ({"bearer_token": "token-a"}, {"bearer_token": "token-b"}),
    ({"basic_auth": ("alice", "pw")}, {"basic_auth": ("bob", "pw")}),
    ({}, {"basic_auth": ("bob", "pw")}),
])
def test_identities_never_share_cache_entries(tmp_path, a, b):
    with HostilePrometheus(default=echo(_by_identity)) as fake, _within(10):
        first = _source(fake.url, cache=tmp_path, **a).range(EXPR, START, END, "15s")
        second = _source(fake.url, cache=tmp_path, **b).range(EXPR, START, END, "15s")
        again = _source(fake.url, cache=tmp_path, **a).range(EXPR, START, END, "15s")
    assert fake.count == 2  # each identity asked once; the repeat came from the cache
    assert first.iloc[0, 0] != second.iloc[0, 0] and again.equals(first)
    metas = b"".join(p.read_bytes() for p in tmp_path.rglob("meta.json"))
    for secret in (b"tenant-a", b"tenant-b", b"token-a", b"token-b", b"alice", b"bob"):
        assert secret not in metas


# -- 3. deadlines --------------------------------------------------------------------------

@pytest.mark.parametrize("retries", [0, 3])
def test_a_trickling_reply_stops_at_the_deadline(retries):
    with HostilePrometheus(trickle(every=0.1)) as fake:
        message = _fails(DeadlineExceeded, lambda: _source(fake.url, deadline=1.5,
                                                           retries=retries).range(
            EXPR, START, END, "15s"), 6, EXPR, "deadline of 1.5 s")
    assert fake.count == 1
    assert float(message.split("stopped after ")[1].split(" s")[0]) >= 1.5


@pytest.mark.parametrize("retries", [0, 3])
def test_trickling_headers_stop_at_the_deadline(retries):
    with HostilePrometheus(default=trickle_headers(every=0.1)) as fake:
        _fails(DeadlineExceeded, lambda: _source(fake.url, deadline=1.5, retries=retries).range(
            EXPR, START, END, "15s"), 6, EXPR, "deadline of 1.5 s")
    assert fake.count == 1


def test_retry_after_past_the_deadline_is_not_waited_for():
    with HostilePrometheus(reply(b"busy", 429, {"Retry-After": "1000"})) as fake:
        message = _fails(DeadlineExceeded, lambda: _source(fake.url, deadline=5).range(
            EXPR, START, END, "15s"), 3, EXPR, "HTTP 429")
    assert "would wait 300.0 s" in message  # capped, and still past the deadline
    assert fake.count == 1


def test_retries_share_the_pull_deadline():
    busy = reply(b"busy", 503, {"Retry-After": "0.4"})
    with HostilePrometheus(default=busy) as fake:
        _fails(DeadlineExceeded, lambda: _source(fake.url, deadline=1.0, retries=50).range(
            EXPR, START, END, "15s"), 4, EXPR)
    assert 2 <= fake.count <= 4


def test_the_deadline_is_per_pull_not_per_source():
    def slow(handler, request):
        time.sleep(0.2)
        reply()(handler, request)
    with HostilePrometheus(default=slow) as fake, _within(10):
        source = _source(fake.url, deadline=0.5)
        frames = [source.range(EXPR, START, END + 15 * i, "15s") for i in range(4)]
    assert fake.count == 4 and all(len(f) >= 2 for f in frames)


def test_a_bad_deadline_is_refused():
    with pytest.raises(SourceError, match="deadline"):
        PromSource("http://127.0.0.1:9", deadline=0)


# -- 4. size guards ------------------------------------------------------------------------

@pytest.mark.parametrize("start, end, step, points", [
    (T0, T0 + 10**6, "1ms", "1,000,000,001 points"),
    ("now-1000000y", "now", "1m", "points"),
])
def test_huge_grids_are_refused_before_any_request(start, end, step, points):
    with HostilePrometheus() as fake:
        message = _fails(TooManyPoints, lambda: _source(fake.url).range(EXPR, start, end, step),
                         2, EXPR, points, "max_range_points=5,000,000")
    assert fake.count == 0 and "PromSource(..., max_range_points=" in message


def test_the_points_limit_is_configurable():
    with HostilePrometheus() as fake:
        _fails(TooManyPoints, lambda: _source(fake.url, max_range_points=1).range(
            EXPR, START, END, "15s"), 2, EXPR, "2 points")
        assert _source(fake.url, max_range_points=2).range(EXPR, START, END, "15s").shape == (2, 1)
    assert fake.count == 1


# -- 5. broken transfers -------------------------------------------------------------------

BROKEN = {"reset": reset_mid_body, "short": short_body, "gzip": bad_gzip}


@pytest.mark.parametrize("kind", BROKEN)
def test_broken_transfers_are_retried_then_named(kind):
    with HostilePrometheus(default=BROKEN[kind]()) as fake:
        message = _fails(ServerUnreachable, lambda: _source(fake.url, retries=2, compress=True)
                         .range(EXPR, START, END, "15s"), 10, EXPR, fake.url, "3 attempts")
    assert fake.count == 3 and "Error" not in message.split(":")[-1]


@pytest.mark.parametrize("kind", BROKEN)
def test_a_broken_transfer_then_a_good_one_succeeds(kind):
    with HostilePrometheus(BROKEN[kind]()) as fake, _within(10):
        frame = _source(fake.url, retries=1, compress=True).range(EXPR, START, END, "15s")
    assert fake.count == 2 and frame.shape == (2, 1)


# -- 6. malformed replies ------------------------------------------------------------------

def _data(data) -> dict:
    return {"status": "success", "data": data}


MALFORMED = {
    "no data": ({"status": "success"}, "without data"),
    "data null": (_data(None), "data is null"),
    "result null": (_data({"resultType": "matrix", "result": None}), "result is null"),
    "scalar": (_data({"resultType": "scalar", "result": [T0, "1"]}), "'scalar' result"),
    "string": (_data({"resultType": "string", "result": [T0, "x"]}), "'string' result"),
    "vector": (_data({"resultType": "vector", "result": []}), "'vector' result"),
    "unknown": (_data({"resultType": "tensor", "result": []}), "'tensor' result"),
    "numbers": (matrix(({"__name__": "up"}, [[T0, 1], [T0 + 15, 2]])), "samples must be"),
    "not numbers": (matrix(({"__name__": "up"}, [[T0, "one"]])), "unreadable samples"),
    "no metric": (_data({"resultType": "matrix", "result": [{"values": [[T0, "1"]]}]}),
                  "without a label set"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_range_replies_are_query_errors(case):
    body, what = MALFORMED[case]
    with HostilePrometheus(default=reply(body)) as fake:
        _fails(QueryError, lambda: _source(fake.url).range(EXPR, START, END, "15s"), 3,
               EXPR, what)
    # The reply is wrong, not the transfer: no retry. One with sample lists streams until
    # the stream cannot read it, then is asked for once more and read whole, which names it.
    assert fake.count == (2 if case in ("numbers", "not numbers", "no metric") else 1)


@pytest.mark.parametrize("body, what", [
    (_data({"resultType": "vector", "result": None}), "result is null"),
    (_data({"resultType": "vector", "result": [{"metric": {}, "value": [T0, 1]}]}),
     "[time, \"value\"]"),
    (_data({"resultType": "scalar", "result": None}), "[time, \"value\"]"),
    (_data({"resultType": "string", "result": [T0, "x"]}), "string is not a series value"),
])
def test_malformed_instant_replies_are_query_errors(body, what):
    with HostilePrometheus(default=reply(body)) as fake:
        _fails(QueryError, lambda: _source(fake.url).instant(EXPR, T0), 3, EXPR, what)
    assert fake.count == 1


# -- 7. duplicates -------------------------------------------------------------------------

UP = {"__name__": "up", "job": "im"}


def _grid_reply(request, repeat_time: bool) -> dict:
    """Every point of the requested grid; a repeated first timestamp, or a repeated series."""
    if request["path"] == "/api/v1/query":  # the series count before a chunked pull
        return {"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {}, "value": [T0, "1"]}]}}
    first, last, step = (float(request["params"][k][0]) for k in ("start", "end", "step"))
    points = [[first + i * step, "1"] for i in range(int((last - first) // step) + 1)]
    if repeat_time:
        return matrix((UP, points[:1] + points))
    return matrix((UP, points), (UP, points))


def _compact(reply: dict) -> bytes:
    """As Prometheus writes it (no spaces): the form replies stream in."""
    return json.dumps(reply, separators=(",", ":")).encode()


@pytest.mark.parametrize("repeat_time, what", [
    (True, 'up{job="im"} has a repeated or unordered timestamp'),
    (False, 'the series up{job="im"} twice'),
])
@pytest.mark.parametrize("form", [body_of, _compact])
def test_duplicates_are_refused_the_same_way_chunked_or_not(repeat_time, what, form):
    messages = []
    for max_points, requests in ((11_000, {1}), (1, {3, 4})):  # chunked: 2 counts, 2 chunks
        with HostilePrometheus(default=echo(lambda r: form(_grid_reply(r, repeat_time)))) as fake:
            source = _source(fake.url, max_points=max_points, retries=0)
            messages.append(_fails(QueryError, lambda s=source: s.range(EXPR, START, END, "15s"),
                                   5, EXPR, what))
        assert fake.count in requests
    assert messages[0] == messages[1]


# -- 8. redirects --------------------------------------------------------------------------

def test_redirects_to_another_host_are_not_followed():
    with HostilePrometheus(host="127.0.0.2") as elsewhere:
        hop = redirect(f"{elsewhere.url}/api/v1/query_range?query=up")
        with HostilePrometheus(default=hop) as fake:
            _fails(SourceError, lambda: _source(fake.url, headers={"X-Scope-OrgID": "t1"})
                   .range(EXPR, START, END, "15s"), 3, EXPR, elsewhere.url, "not followed")
    assert fake.count == 1 and elsewhere.count == 0


def test_redirects_within_the_server_are_followed():
    with HostilePrometheus(redirect("/prometheus/api/v1/query_range", 307)) as fake:
        frame = _source(fake.url, headers={"X-Scope-OrgID": "t1"}).range(EXPR, START, END, "15s")
    assert fake.count == 2 and frame.shape == (2, 1)
    assert fake.requests[1]["path"] == "/prometheus/api/v1/query_range"
    assert fake.requests[1]["params"]["query"] == [EXPR]
    assert fake.requests[1]["headers"]["X-Scope-OrgID"] == "t1"


def test_endless_redirects_end():
    with HostilePrometheus(default=redirect("/loop")) as fake:
        _fails(SourceError, lambda: _source(fake.url).range(EXPR, START, END, "15s"), 3,
               EXPR, "redirected")
    assert fake.count == 6


# -- 9. secrets ----------------------------------------------------------------------------

PASSWORD, TOKEN, ORG = "pa55-w0rd-secret", "tok-3f9a-secret", "org-7c1d-secret"
BASIC = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
FORMS = (PASSWORD, TOKEN, ORG, BASIC, "pa55-w0rd", "3f9a")


def _echo_headers(request) -> dict:
    said = " ".join(f"{k}={v}" for k, v in request["headers"].items())
    return dict(up_matrix(), infos=[f"proxy saw {said}"], warnings=[f"headers: {said}"])


def _echo_error(request) -> dict:
    said = " ".join(f"{k}={v}" for k, v in request["headers"].items())
    return {"status": "error", "errorType": "bad_data", "error": f"cannot parse {said}"}


def test_secrets_never_reach_any_output(caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    html = b"<html>proxy: Basic " + BASIC.encode()
    actions = [echo(_echo_headers), echo(_echo_error, 400), echo(_echo_headers),
               reply(html, 502), reply(html, 200)]
    texts, ends = [], iter(range(END, END + 600, 15))  # a new range each time: no cache hit
    with HostilePrometheus(*actions) as fake, warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        port = fake.url.rsplit(":", 1)[1]
        sources = [
            (_source(fake.url, headers={"X-Scope-OrgID": ORG, "X-Token": TOKEN}, retries=0,
                     cache=tmp_path), 2),
            (_source(f"http://admin:{PASSWORD}@127.0.0.1:{port}", retries=0, cache=tmp_path), 2),
            (_source(fake.url, headers={"Authorization": f"Basic {BASIC}"}, retries=0,
                     cache=tmp_path), 1),
        ]
        for source, calls in sources:
            texts.append(repr(source))
            for _ in range(calls):
                try:
                    texts.append(repr(source.range(EXPR, START, next(ends), "15s")))
                except SourceError as exc:
                    texts += [str(exc), repr(exc)]
        texts += [str(w.message) for w in seen]
    assert fake.count == 5 and any("cannot parse" in t for t in texts)
    assert "proxy saw" in caplog.text and "headers:" in " ".join(texts)
    assert "<html>proxy: ***" in " ".join(texts)
    cached = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    for text in [*texts, caplog.text, cached.decode("latin-1")]:
        for secret in FORMS:
            assert secret not in text


# -- 10. damaged cache parts ---------------------------------------------------------------

def _flip(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


DAMAGE = {
    "flipped": _flip,
    "truncated": lambda path: path.write_bytes(path.read_bytes()[:50]),
    "deleted": lambda path: path.unlink(),
}


@pytest.mark.parametrize("kind", DAMAGE)
def test_a_damaged_part_is_refetched_and_repaired(tmp_path, kind):
    with HostilePrometheus() as fake, _within(10):
        source = _source(fake.url, cache=tmp_path)
        first = source.range(EXPR, START, END, "15s")
        DAMAGE[kind](next(tmp_path.rglob("part-*.parquet")))
        with pytest.warns(UserWarning, match=r"cache entry .* for '.*im_messages_sent_total.*"
                          r"is damaged"):
            again = source.range(EXPR, START, END, "15s")
        assert fake.count == 2 and again.equals(first)
        assert source.range(EXPR, START, END, "15s").equals(first)  # repaired: no warning
        assert fake.count == 2
    offline = _source(fake.url, cache=tmp_path, offline=True)
    assert offline.range(EXPR, START, END, "15s").equals(first)


def test_offline_names_the_range_a_damaged_part_loses(tmp_path):
    with HostilePrometheus() as fake:
        _source(fake.url, cache=tmp_path).range(EXPR, START, END, "15s")
        next(tmp_path.rglob("part-*.parquet")).unlink()
        offline = _source(fake.url, cache=tmp_path, offline=True)
        with pytest.warns(UserWarning, match="damaged"):
            _fails(CacheMiss, lambda: offline.range(EXPR, START, END, "15s"), 3, EXPR,
                   "2023-11-14T22:13:20+00:00 to 2023-11-14T22:13:35+00:00")
    assert fake.count == 1


# -- 12. smaller ---------------------------------------------------------------------------

def test_server_unreachable_names_the_expression():
    with HostilePrometheus() as fake:
        url = fake.url
    _fails(ServerUnreachable, lambda: _source(url, retries=1).range(EXPR, START, END, "15s"),
           5, EXPR, url, "2 attempts")


def test_inverted_metadata_ranges_are_refused_before_any_request():
    with HostilePrometheus() as fake:
        _fails(SourceError, lambda: _source(fake.url).series("up", "now", "now-1d"), 2,
               "up", "ends before it starts")
        _fails(SourceError, lambda: _source(fake.url).label_values("job", None, "now", "now-1d"),
               2, "job", "ends before it starts")
    assert fake.count == 0


def _raw_reply(request, repeat_time: bool) -> dict:
    if "count" in request["params"]["query"][0]:  # the size queries before a raw pull
        return {"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {}, "value": [T0, "2"]}]}}
    points = [[T0, "1"], [T0 + 15, "2"]]
    series = [(UP, points[:1] + points)] if repeat_time else [(UP, points), (UP, points)]
    return matrix(*series)


@pytest.mark.parametrize("repeat_time, what", [
    (True, 'up{job="im"} has a repeated or unordered timestamp'),
    (False, 'the series up{job="im"} twice'),
])
@pytest.mark.parametrize("form", [body_of, _compact])
def test_raw_pulls_refuse_duplicates(repeat_time, what, form):
    with HostilePrometheus(default=echo(lambda r: form(_raw_reply(r, repeat_time)))) as fake:
        source = _source(fake.url, retries=0, version="2.53.0")
        _fails(QueryError, lambda: source.raw('up{job="im"}', T0, END), 5, 'up{job="im"}', what)
    assert fake.count == 3  # series and sample counts, then the one chunk


def test_cli_inventory_refuses_an_inverted_range_before_any_request():
    with HostilePrometheus() as fake, _within(60):
        done = subprocess.run(
            [sys.executable, "-m", "imanalytics", "inventory", "--url", fake.url, "--start",
             "now", "--end", "now-1d"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "ends before it starts ('now' to 'now-1d')" in done.stderr
    assert fake.count == 0


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "imanalytics", *args], capture_output=True,
                          text=True, timeout=600, env={**os.environ, **(env or {})})


def test_cli_output_holds_no_secret():
    with HostilePrometheus(default=echo(_echo_error, 400)) as fake:
        port = fake.url.rsplit(":", 1)[1]
        runs = [_cli("inventory", "--url", f"http://admin:{PASSWORD}@127.0.0.1:{port}"),
                _cli("inventory", "--url", fake.url, env={"IMANALYTICS_BEARER_TOKEN": TOKEN})]
    assert fake.count == 2
    for done in runs:
        assert done.returncode == 1 and "cannot parse" in done.stderr
        assert "Authorization=" in done.stderr and "Traceback" not in done.stderr
        for secret in FORMS:
            assert secret not in done.stdout + done.stderr


def test_review_outputs_hold_no_secret(prom, workload, tmp_path):
    """A real review through credentials in the URL (Prometheus ignores them)."""
    out = tmp_path / "out"
    port = prom.url.rsplit(":", 1)[1]
    done = _cli("review-thresholds", "--url", f"http://admin:{PASSWORD}@127.0.0.1:{port}",
                "--since", "2d", "--until", workload.end.isoformat(), "--out", str(out),
                "--strategies", "adaptive_band", "--slis", "connections")
    assert done.returncode == 0, done.stderr
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "report.html" for p in files)
    for text in [done.stdout, done.stderr, *(p.read_bytes().decode("latin-1") for p in files)]:
        for secret in FORMS:
            assert secret not in text


def test_gzip_replies_are_read_whole_and_connections_reused():
    body = gzip.compress(json.dumps(up_matrix(n=2)).encode())
    with HostilePrometheus(default=reply(body, headers={"Content-Encoding": "gzip"})) as fake:
        source = _source(fake.url, compress=True)
        frames = [source.range(EXPR, START, END + 15 * i, "15s") for i in range(3)]
    assert fake.count == 3 and all(f.iloc[:2, 0].tolist() == [1.0, 1.0] for f in frames)
    assert len({r["peer"] for r in fake.requests}) == 1  # one kept-alive connection
