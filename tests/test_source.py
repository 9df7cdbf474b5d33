"""PromSource against a real Prometheus: exact range, raw and instant pulls, and its errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import requests

import imanalytics.source.chunking as source_module
import imanalytics.source.client as client_module
from imanalytics.frames import Grid, labels_of
from imanalytics.samples import Series, format_series
from imanalytics.sandbox import PrometheusSandbox
from imanalytics.source import PromSource, QueryError, SourceError, TooManySeries
from imanalytics.source.raw import RawSamples

pytestmark = pytest.mark.prometheus

T0 = 1_700_000_000_000
N = 2000
STEP = 15_000
END = T0 + (N - 1) * STEP


def _series() -> list[Series]:
    rng = np.random.default_rng(3)
    base = T0 + STEP * np.arange(N, dtype=np.int64)
    out = []
    for i in range(5):  # jittered scrapes, full-precision values
        v = rng.gamma(2.0, 100.0, N)
        if i == 0:
            v[[10, 11, 12]] = [np.nan, np.inf, -np.inf]
        out.append(Series({"__name__": "grid_x", "i": str(i), "job": "im"}, base + 7 * i, v))
    half = base[N // 2:]
    out.append(Series({"__name__": "late_y", "job": "im"}, half, np.arange(len(half), dtype=float)))
    mid = base[N // 3: N // 3 + 40]
    out += [Series({"__name__": "mid_z", "i": str(i)}, mid, np.ones(len(mid))) for i in range(4)]
    dense = T0 + np.arange(3000, dtype=np.int64)  # a sample every millisecond
    out.append(Series({"__name__": "dense_ms"}, dense, rng.normal(size=3000)))
    return out


SERIES = _series()


@pytest.fixture(scope="module")
def server():
    with PrometheusSandbox(SERIES) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def small_server():
    """A server that refuses queries loading more than 1000 samples."""
    with PrometheusSandbox(SERIES[:5], extra_args=["--query.max-samples=1000"]) as sandbox:
        yield sandbox


def _source(server, **options) -> PromSource:
    return PromSource(server.url, progress=False, **options)


def _requests(source: PromSource) -> list[requests.PreparedRequest]:
    seen: list = []
    source.session.hooks["response"].append(lambda reply, *a, **k: seen.append(reply.request))
    return seen


# -- range ----------------------------------------------------------------------------------

@pytest.mark.parametrize("max_points", [1, 7, 333])
def test_chunked_range_equals_one_unchunked_pull(server, max_points):
    start, end = T0 / 1000 + 3.5, END / 1000 - 1  # an end off the grid
    whole = _source(server).range("grid_x", start, end, "15s")
    chunked = _source(server, max_points=max_points, max_workers=3).range(
        "grid_x", start, end, "15s")
    pd.testing.assert_frame_equal(chunked, whole)
    assert len(whole) == N - 1


def test_time_chunks_follow_the_series_count_of_an_expression(server):
    source = _source(server, max_samples=5 * 100)
    seen = _requests(source)
    source.range("grid_x * 1", T0 / 1000, END / 1000, "15s")
    ranges = [r for r in seen if "query_range" in r.url]
    assert len(ranges) == -(-N // 100)  # 5 series -> 100 points per request


def test_range_matches_the_server_answer(server):
    frame = _source(server, max_points=50).range("grid_x * 2", T0 / 1000, END / 1000, "1m")
    reply = requests.get(f"{server.url}/api/v1/query_range", params={
        "query": "grid_x * 2", "start": T0 / 1000, "end": END / 1000, "step": 60}).json()
    for item in reply["data"]["result"]:
        column = frame[format_series(item["metric"])]
        t = pd.to_datetime([ts for ts, _ in item["values"]], unit="s", utc=True)
        expected = np.array([float(v) for _, v in item["values"]])
        np.testing.assert_array_equal(column.loc[t].to_numpy(), expected)
        assert column.drop(t).isna().all()


def test_range_frame_shape(server):
    frame = _source(server).range("grid_x", T0 / 1000, T0 / 1000 + 600, "1m")
    assert frame.index.name == "timestamp" and str(frame.index.tz) == "UTC"
    assert (np.diff(frame.index.as_unit("ms").asi8) == 60_000).all() and len(frame) == 11
    assert set(frame.dtypes) == {np.dtype("float64")}
    assert labels_of(frame)["i"].tolist() == ["0", "1", "2", "3", "4"]
    first = frame[format_series({"__name__": "grid_x", "i": "0", "job": "im"})]
    assert first.iloc[0] == SERIES[0].v[0]


def test_special_values_survive(server):
    at = pd.Timestamp(T0 + 12 * STEP + 100, unit="ms", tz="UTC")
    frame = _source(server).range('grid_x{i="0"}', at - pd.Timedelta("30s"), at, "15s")
    assert np.isnan(frame.iloc[0, 0]) and frame.iloc[1, 0] == np.inf
    assert frame.iloc[2, 0] == -np.inf


def test_series_appearing_mid_range_are_nan_before(server):
    frame = _source(server, max_points=100).range("late_y", T0 / 1000, END / 1000, "15s")
    column = frame.iloc[:, 0]
    assert column.iloc[: N // 2].isna().all() and column.iloc[N // 2:].notna().all()


def test_range_long(server):
    # Starting 1 s in, every jittered series has a value at each of the 5 points.
    long = _source(server).range_long("grid_x", T0 / 1000 + 1, T0 / 1000 + 61, "15s")
    assert list(long.columns[:2]) == ["timestamp", "value"]
    assert {"__name__", "i", "job"} <= set(long.columns) and len(long) == 5 * 5
    assert long["i"].dtype == "category"


def test_empty_result_is_the_grid_with_no_columns(server):
    frame = _source(server).range("no_such_metric", T0 / 1000, T0 / 1000 + 150, "15s")
    assert frame.shape == (11, 0)
    assert frame.index[0] == pd.Timestamp(T0, unit="ms", tz="UTC")
    assert frame.index.name == "timestamp"


def test_relative_starts_sit_on_a_step_multiple(server, monkeypatch):
    monkeypatch.setattr(source_module, "now_ms", lambda: T0 + 12_345_678)
    frame = _source(server).range("grid_x", "now-10m", "now", "1m")
    assert (frame.index.as_unit("ms").asi8 % 60_000 == 0).all()
    assert frame.index[-1] <= pd.Timestamp(T0 + 12_345_678, unit="ms", tz="UTC")
    assert len(frame) == 11 and frame.notna().all().all()


def test_bad_ranges_are_refused(server):
    with pytest.raises(SourceError, match="ends before it starts"):
        _source(server).range("grid_x", T0 / 1000, T0 / 1000 - 60, "15s")
    with pytest.raises(SourceError, match="step must be positive"):
        _source(server).range("grid_x", T0 / 1000, T0 / 1000 + 60, "0s")


def test_grid_split_has_no_gap_and_no_overlap():
    grid = Grid.spanning(1000, 1000 + 99 * 15, 15)
    for size in (1, 7, 100, 500):
        parts = grid.split(size)
        times = np.concatenate([p.times() for p in parts])
        np.testing.assert_array_equal(times, grid.times())
        assert all(p.n <= size and p.start in grid.times() for p in parts)


# -- raw ------------------------------------------------------------------------------------

@pytest.mark.parametrize("max_samples", [100_000, 997, 50])
def test_raw_returns_every_backfilled_sample(server, max_samples):
    source = _source(server, max_samples=max_samples)
    for name in ("grid_x", "dense_ms", "mid_z"):
        expected = sorted((s for s in SERIES if s.name == name), key=lambda s: format_series(
            s.labels))
        got = source.raw(name, T0 / 1000, (END + 1000) / 1000)
        assert [g.labels for g in got] == [e.labels for e in expected]
        for g, e in zip(got, expected, strict=True):
            np.testing.assert_array_equal(g.t, e.t)
            np.testing.assert_array_equal(g.v, e.v)


def test_raw_replies_stream_in_small_blocks(server, monkeypatch):
    streamed = []
    series = RawSamples.series
    monkeypatch.setattr(client_module, "MAX_BLOCK", 64)
    monkeypatch.setattr(RawSamples, "series", lambda self: streamed.append(self) or series(self))
    got = _source(server, max_samples=997).raw("grid_x", T0 / 1000, (END + 1000) / 1000)
    expected = sorted((s for s in SERIES if s.name == "grid_x"),
                      key=lambda s: format_series(s.labels))
    assert len(streamed) > 1 and all(part.labelsets for part in streamed)
    assert [g.labels for g in got] == [e.labels for e in expected]
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(g.t, e.t)
        np.testing.assert_array_equal(g.v, e.v)


def test_raw_bounds_are_inclusive(server):
    t = SERIES[0].t
    got = _source(server).raw('grid_x{i="0"}', t[5] / 1000, t[9] / 1000)
    np.testing.assert_array_equal(got[0].t, t[5:10])


def test_raw_chunk_edges_follow_the_server_version(server):
    # A sample every ms puts one on every chunk edge: each must come back exactly once,
    # and assuming 3.x's left-open windows on this 2.x server would fetch it twice.
    dense = next(s for s in SERIES if s.name == "dense_ms")
    got = _source(server, max_samples=50).raw("dense_ms", T0 / 1000, (T0 + 2999) / 1000)
    np.testing.assert_array_equal(got[0].t, dense.t)
    np.testing.assert_array_equal(got[0].v, dense.v)
    # A wrong version (3.x's wider window on 2.x) cannot repeat a sample: chunks are trimmed.
    wrong = _source(server, max_samples=50, version="3.0.0").raw("dense_ms", T0 / 1000,
                                                                 (T0 + 2999) / 1000)
    np.testing.assert_array_equal(wrong[0].t, dense.t)
    assert _source(server).version.startswith("2.")


def test_version_is_asked_once(server):
    source = _source(server)
    seen = _requests(source)
    assert source.version == source.version
    assert sum("buildinfo" in r.url for r in seen) == 1


def test_raw_refuses_non_selectors(server):
    with pytest.raises(QueryError, match="rate"):
        _source(server).raw("rate(grid_x[5m])", T0 / 1000, END / 1000)


# -- instant and metadata -------------------------------------------------------------------

def test_instant_vector_and_scalar(server):
    at = pd.Timestamp(T0 + 100 * STEP + 100, unit="ms", tz="UTC")
    frame = _source(server).instant("sum by (job) (grid_x)", at)
    assert frame.shape == (1, 1) and frame.index[0] == at
    assert frame.iloc[0, 0] == pytest.approx(sum(s.v[100] for s in SERIES[:5]))
    assert list(_source(server).instant("scalar(count(grid_x))", at).columns) == ["{}"]
    with pytest.raises(QueryError, match="use raw"):
        _source(server).instant("grid_x[1m]", at)


def test_series_and_label_helpers(server):
    source = _source(server)
    found = source.series("grid_x", T0 / 1000, END / 1000)
    assert len(found) == 5 and found["i"].tolist() == ["0", "1", "2", "3", "4"]
    assert source.label_values("i", match="grid_x", start=T0 / 1000, end=END / 1000) == [
        "0", "1", "2", "3", "4"]
    assert {"__name__", "i", "job"} <= set(source.label_names(start=T0 / 1000, end=END / 1000))


# -- errors ---------------------------------------------------------------------------------

def test_bad_promql_names_the_expression(server):
    with pytest.raises(QueryError) as info:
        _source(server).range("sum(grid_x", T0 / 1000, END / 1000, "1m")
    message = str(info.value)
    assert "sum(grid_x" in message and "bad_data" in message and "parse error" in message


def test_query_timeout(server):
    source = _source(server, query_timeout="1ms", max_series=None)
    with pytest.raises(QueryError, match="timeout: query timed out") as info:
        source.range("count_over_time(grid_x[1d:1s])", T0 / 1000, END / 1000, "5m")
    assert "count_over_time(grid_x[1d:1s])" in str(info.value)


def test_too_many_samples(small_server):
    with pytest.raises(QueryError, match="too many samples") as info:
        _source(small_server).range("grid_x", T0 / 1000, END / 1000, "15s")
    assert "execution" in str(info.value) and "grid_x" in str(info.value)


def test_series_guard_refuses_before_pulling(server):
    source = _source(server, max_series=3)
    seen = _requests(source)
    with pytest.raises(TooManySeries) as info:
        source.range("grid_x", T0 / 1000, END / 1000, "15s")
    message = str(info.value)
    assert "grid_x" in message and "5 series" in message and "max_series=3" in message
    assert "max_series=5" in message  # how to raise it
    assert not any("query_range" in r.url for r in seen)


def test_series_guard_counts_series_seen_only_mid_range(server):
    # mid_z exists only in the middle, so the cheap check at the ends sees none of it.
    source = _source(server, max_series=2, max_points=50, max_workers=1)
    with pytest.raises(TooManySeries, match="4 series"):
        source.range("mid_z", T0 / 1000, END / 1000, "15s")
    with pytest.raises(TooManySeries, match="4 series"):
        _source(server, max_series=2).raw("mid_z", T0 / 1000, END / 1000)


# -- progress -------------------------------------------------------------------------------

def test_progress_bar_only_when_asked_or_on_a_terminal(server, capsys):
    _source(server, max_points=100).range("grid_x", T0 / 1000, END / 1000, "15s")
    assert "chunk" not in capsys.readouterr().err  # stderr is not a terminal here
    PromSource(server.url, max_points=100, progress=True).range(
        "grid_x", T0 / 1000, END / 1000, "15s")
    assert "chunk" in capsys.readouterr().err


def test_reply_parse_fallback_matches_the_fast_path(server):
    params = {"query": "grid_x", "start": T0 / 1000, "end": END / 1000, "step": 60}
    body = requests.get(f"{server.url}/api/v1/query_range", params=params).content
    from imanalytics.frames import parse_reply

    fast = parse_reply(body)["data"]["result"]
    slow = parse_reply(json.dumps(json.loads(body), indent=2).encode())["data"]["result"]
    for a, b in zip(fast, slow, strict=True):
        assert a["metric"] == b["metric"]
        np.testing.assert_array_equal(a["t"], b["t"])
        np.testing.assert_array_equal(a["v"], b["v"])
