"""Range pulls that stay linear in the fan-out: series shards, bounded replies, shared labels."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import pytest
import requests

from imanalytics.frames import Grid
from imanalytics.samples import Series
from imanalytics.sandbox import PrometheusSandbox
from imanalytics.source import PromSource
from imanalytics.source.canvas import Canvas
from imanalytics.source.shards import is_selector, value_groups, with_matcher
from imanalytics.source.stream import MatrixStream

T0 = 1_700_000_000_000
STEP = 60_000
N = 240
# Instances whose names need escaping in a regex, one series without the label.
INSTANCES = [f"host-{i}.im:9100" for i in range(12)] + ['we"ird|x\\y', "a+b (c)"]


def _series() -> list[Series]:
    rng = np.random.default_rng(5)
    t = T0 + STEP * np.arange(N, dtype=np.int64)
    out = [Series({"__name__": "fan_x", "instance": inst, "job": "im", "shard": str(k)}, t,
                  rng.gamma(2.0, 10.0, N))
           for inst in INSTANCES for k in range(3)]
    out.append(Series({"__name__": "fan_x", "job": "im"}, t[N // 2:], np.arange(N - N // 2.0)))
    # Two samples at the start: later ranges see it only through the lookback window.
    out.append(Series({"__name__": "fan_x", "instance": "zz-early", "job": "im", "shard": "0"},
                      t[:2], np.array([1.0, 2.0])))
    return out


SERIES = _series()


@pytest.fixture(scope="module")
def server():
    with PrometheusSandbox(SERIES) as sandbox:
        yield sandbox


def _pull(server, expr: str, start=T0, **options) -> tuple[pd.DataFrame, list[str]]:
    source = PromSource(server.url, progress=False, **options)
    sent: list = []
    source.session.hooks["response"].append(lambda r, *a, **k: sent.append(r.request))
    frame = source.range(expr, start / 1000, (T0 + (N - 1) * STEP) / 1000, "1m")
    return frame, [r for r in sent if "query_range" in r.url]


def _reply_sizes(server, request) -> tuple[list[str], int]:
    """Series names and samples the server sends for one recorded request."""
    again = requests.Session().send(request).json()["data"]["result"]
    return ([str(sorted(item["metric"].items())) for item in again],
            sum(len(item["values"]) for item in again))


@pytest.mark.prometheus
@pytest.mark.parametrize("expr", ["fan_x", 'fan_x{job="im"}', '{__name__="fan_x", job=~"i.*"}'])
def test_a_sharded_pull_equals_one_whole_pull(server, expr):
    whole, sent = _pull(server, expr, max_series=None)  # no series count: one request
    assert len(sent) == 1 and whole.shape == (N, len(SERIES))
    sharded, sent = _pull(server, expr, max_samples=7 * N)
    assert len(sent) > 5
    pd.testing.assert_frame_equal(sharded, whole)


@pytest.mark.prometheus
def test_each_series_is_read_once_in_bounded_replies(server):
    budget = 7 * N
    frame, sent = _pull(server, "fan_x", max_samples=budget)
    seen: list[str] = []
    for request in sent:
        names, samples = _reply_sizes(server, request)
        assert samples <= budget
        seen += names
    assert len(seen) == len(set(seen)) == frame.shape[1] == len(SERIES)


@pytest.mark.prometheus
@pytest.mark.parametrize("compress", [False, True])
def test_prometheus_replies_stream_into_the_frame(server, monkeypatch, compress):
    fed, finish = [], MatrixStream.finish

    def spy(stream):
        fed.append(stream)
        return finish(stream)

    monkeypatch.setattr(MatrixStream, "finish", spy)
    frame, sent = _pull(server, "fan_x", max_samples=7 * N, compress=compress)
    # Every reply went through a stream, none was asked for again to be read whole.
    assert len(fed) == len(sent) > 5 and sum(len(s._written) for s in fed) == len(SERIES)
    assert all(("gzip" in r.headers.get("Accept-Encoding", "")) is compress for r in sent)
    monkeypatch.undo()
    pd.testing.assert_frame_equal(frame, _pull(server, "fan_x", max_series=None)[0])


@pytest.mark.prometheus
def test_requests_grow_with_samples_not_with_fan_out_squared(server):
    # Each request spans the whole range however many series there are: requests number
    # about series / (budget / points), plus one for series the listing could miss.
    _, few = _pull(server, 'fan_x{shard="0"}', max_samples=7 * N)
    _, many = _pull(server, "fan_x", max_samples=7 * N)
    assert len(few) <= -(-(len(INSTANCES) + 1) // 7) + 2
    assert len(many) <= -(-len(SERIES) // 7) + 3
    for request in few + many:
        query = parse_qs(urlsplit(request.url).query) or parse_qs(request.body)
        assert float(query["start"][0]) * 1000 == T0
        assert float(query["end"][0]) * 1000 == T0 + (N - 1) * STEP


@pytest.mark.prometheus
def test_series_seen_only_through_the_lookback_are_not_lost(server):
    start = T0 + 3 * STEP  # zz-early's last sample is 2 minutes before: the listing misses it
    whole, _ = _pull(server, "fan_x", start=start)
    sharded, _ = _pull(server, "fan_x", start=start, max_samples=7 * N)
    assert any("zz-early" in name for name in whole.columns)
    pd.testing.assert_frame_equal(sharded, whole)


@pytest.mark.prometheus
def test_expressions_that_are_not_selectors_are_split_by_time_and_exact(server):
    whole, _ = _pull(server, "fan_x * 2")
    split, sent = _pull(server, "fan_x * 2", max_samples=10 * N)
    assert len(sent) >= len(SERIES) // 10
    pd.testing.assert_frame_equal(split, whole)


def test_the_canvas_keeps_one_label_dict_per_series():
    grid = Grid(T0, STEP, 4)
    first = {"__name__": "x", "i": "1"}
    canvas = Canvas(grid, width=1)
    for k in range(4):
        labels = dict(first)  # each reply parses its own equal dict
        canvas.place([{"metric": labels, "t": np.array([T0 + k * STEP]),
                       "v": np.array([float(k)])}], Grid(T0 + k * STEP, STEP, 1))
        assert canvas.labelsets[0] is not labels or k == 0
    assert len(canvas) == 1
    np.testing.assert_array_equal(canvas.frame().to_numpy().ravel(), [0, 1, 2, 3])


def test_the_canvas_widens_for_series_it_did_not_expect():
    canvas = Canvas(Grid(T0, STEP, 2), width=1)
    result = [{"metric": {"i": str(i)}, "t": np.array([T0]), "v": np.array([float(i)])}
              for i in range(5)]
    canvas.place(result, Grid(T0, STEP, 2))
    assert canvas.frame().iloc[0].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize(("expr", "ok"), [
    ("fan_x", True), ('fan_x{job="im",}', True), ("{job='im'}", True),
    ('fan_x{job="}"}', True), ("fan_x + fan_y", False), ('rate(fan_x[5m])', False),
    ('fan_x{a="1"} + b{c="2"}', False), ("fan_x offset 5m", False), ("", False)])
def test_only_bare_selectors_are_sharded(expr, ok):
    assert is_selector(expr) is ok


def test_shard_matchers_keep_the_selector_and_match_values_literally():
    assert (with_matcher('x{job="im",}', "instance", "=~", ["a.b", ""])
            == 'x{job="im", instance=~"a\\\\.b|"}')
    assert with_matcher("x", "i", "!~", ["1"]) == 'x{i!~"1"}'
    groups = value_groups([{"i": "1"}, {"i": "1"}, {"i": "2"}, {}], "i", 2)
    assert groups == [([""], 1), (["1"], 2), (["2"], 1)]
