"""The range cache: only missing points are fetched, writes are atomic, offline mode."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import pytest

import imanalytics.cache as cache_module
import imanalytics.source.chunking as source_module
from imanalytics.cache import MAX_PARTS, CacheMiss, RangeCache
from imanalytics.frames import Grid, wide_frame
from imanalytics.samples import Series
from imanalytics.sandbox import PrometheusSandbox
from imanalytics.source import PromSource

T0 = 1_700_000_040_000  # a multiple of the 1m step used below
STEP = 15_000
N = 1000
START_S, END_S = T0 / 1000, (T0 + (N - 1) * STEP) / 1000
FAR_FUTURE = T0 + 10**12


def _frame(grid: Grid, columns=("a", "b"), offset: float = 0.0) -> pd.DataFrame:
    values = np.arange(grid.n * len(columns), dtype=float).reshape(grid.n, -1) + offset
    return wide_frame(grid.times(), [{"__name__": c} for c in columns], values)


def _entry(tmp_path, expr="x"):
    return RangeCache(tmp_path).entry("http://prom:9090", expr, STEP, T0 % STEP)


def _grid(first: int, last: int) -> Grid:
    return Grid.spanning(T0 + first * STEP, T0 + last * STEP, STEP)


# -- entries --------------------------------------------------------------------------------

def test_missing_is_what_coverage_leaves_out(tmp_path):
    entry = _entry(tmp_path)
    assert entry.missing(_grid(0, 99)) == [_grid(0, 99)]
    entry.store(_frame(_grid(10, 19)), _grid(10, 19), FAR_FUTURE)
    entry.store(_frame(_grid(40, 49)), _grid(40, 49), FAR_FUTURE)
    assert entry.missing(_grid(0, 99)) == [_grid(0, 9), _grid(20, 39), _grid(50, 99)]
    assert entry.missing(_grid(12, 18)) == []
    entry.store(_frame(_grid(20, 39)), _grid(20, 39), FAR_FUTURE)
    assert entry.coverage() == [(T0 + 10 * STEP, T0 + 49 * STEP)]  # touching intervals merge


def test_read_returns_stored_points_of_the_grid(tmp_path):
    entry = _entry(tmp_path)
    first, second = _frame(_grid(0, 9)), _frame(_grid(10, 19), columns=("b", "c"), offset=100)
    entry.store(first, _grid(0, 9), FAR_FUTURE)
    entry.store(second, _grid(10, 19), FAR_FUTURE)
    got = entry.read(_grid(5, 14))
    assert list(got.columns) == ["a", "b", "c"]
    pd.testing.assert_series_equal(got["b"].iloc[:5], first["b"].iloc[5:], check_freq=False)
    pd.testing.assert_series_equal(got["b"].iloc[5:], second["b"].iloc[:5], check_freq=False)
    assert got["a"].iloc[5:].isna().all() and got["c"].iloc[:5].isna().all()


def test_unsettled_points_are_not_stored(tmp_path):
    entry = _entry(tmp_path)
    entry.store(_frame(_grid(0, 99)), _grid(0, 99), settled_before=T0 + 60 * STEP + 5)
    assert entry.coverage() == [(T0, T0 + 60 * STEP)]
    assert len(entry.read(_grid(0, 99))) == 61
    entry.store(_frame(_grid(0, 9)), _grid(0, 9), settled_before=T0 - 1)
    assert entry.coverage() == [(T0, T0 + 60 * STEP)]


def test_entries_are_keyed_by_server_expression_step_and_phase(tmp_path):
    cache = RangeCache(tmp_path)
    base = cache.entry("http://prom:9090", "x", STEP, 0)
    others = [cache.entry("http://other:9090", "x", STEP, 0), cache.entry("http://prom:9090",
              "y", STEP, 0), cache.entry("http://prom:9090", "x", 2 * STEP, 0),
              cache.entry("http://prom:9090", "x", STEP, 1000)]
    assert len({base.dir, *(o.dir for o in others)}) == 5


def test_a_failed_part_write_leaves_the_entry_as_it_was(tmp_path, monkeypatch):
    entry = _entry(tmp_path)
    entry.store(_frame(_grid(0, 9)), _grid(0, 9), FAR_FUTURE)
    before = entry.read(_grid(0, 99))

    def half_then_fail(frame, path):
        path.write_bytes(b"PAR1" + b"\0" * 100)
        raise OSError("disk full")

    monkeypatch.setattr(cache_module, "_write_parquet", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        entry.store(_frame(_grid(10, 19)), _grid(10, 19), FAR_FUTURE)
    pd.testing.assert_frame_equal(entry.read(_grid(0, 99)), before)
    assert entry.coverage() == [(T0, T0 + 9 * STEP)]
    assert sorted(p.name for p in entry.dir.iterdir() if p.name.endswith(".tmp")) == []


def test_a_failed_meta_write_keeps_the_old_meta(tmp_path, monkeypatch):
    entry = _entry(tmp_path)
    entry.store(_frame(_grid(0, 9)), _grid(0, 9), FAR_FUTURE)
    real = cache_module.atomic_write

    def fail_on_meta(path, write):
        if path.name == "meta.json":
            write(path.with_name(".meta.json.partial.tmp"))
            raise KeyboardInterrupt
        real(path, write)

    monkeypatch.setattr(cache_module, "atomic_write", fail_on_meta)
    with pytest.raises(KeyboardInterrupt):
        entry.store(_frame(_grid(10, 19)), _grid(10, 19), FAR_FUTURE)
    monkeypatch.setattr(cache_module, "atomic_write", real)
    assert entry.coverage() == [(T0, T0 + 9 * STEP)]
    entry.store(_frame(_grid(20, 29)), _grid(20, 29), FAR_FUTURE)  # sweeps the leftovers
    meta = json.loads((entry.dir / "meta.json").read_text())
    assert sorted(p.name for p in entry.dir.glob("part-*")) == sorted(meta["parts"])
    assert not list(entry.dir.glob("*.tmp"))


def test_a_process_killed_mid_write_leaves_a_readable_cache(tmp_path):
    entry = _entry(tmp_path)
    entry.store(_frame(_grid(0, 9)), _grid(0, 9), FAR_FUTURE)
    before = entry.read(_grid(0, 99))
    script = textwrap.dedent(f"""
        import os
        import imanalytics.cache as cache
        from imanalytics.frames import Grid, wide_frame
        import numpy as np

        def die_midway(frame, path):
            path.write_bytes(b"PAR1 half a file")
            os._exit(9)

        cache._write_parquet = die_midway
        grid = Grid.spanning({T0 + 10 * STEP}, {T0 + 19 * STEP}, {STEP})
        frame = wide_frame(grid.times(), [{{"__name__": "a"}}], np.ones((grid.n, 1)))
        entry = cache.RangeCache({str(tmp_path)!r}).entry("http://prom:9090", "x", {STEP},
                                                          {T0 % STEP})
        entry.store(frame, grid, {FAR_FUTURE})
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 9, done.stderr
    assert list(entry.dir.glob("*.tmp"))  # the half-written file is there ...
    pd.testing.assert_frame_equal(entry.read(_grid(0, 99)), before)  # ... and ignored
    assert entry.coverage() == [(T0, T0 + 9 * STEP)]


def test_many_pulls_are_compacted(tmp_path):
    entry = _entry(tmp_path)
    for k in range(MAX_PARTS + 4):
        entry.store(_frame(_grid(10 * k, 10 * k + 9)), _grid(10 * k, 10 * k + 9), FAR_FUTURE)
    assert len(list(entry.dir.glob("part-*"))) <= MAX_PARTS
    got = entry.read(_grid(0, 10 * (MAX_PARTS + 4) - 1))
    assert got.notna().all().all() and len(got) == 10 * (MAX_PARTS + 4)


def test_an_unreadable_meta_file_is_ignored_with_a_warning(tmp_path):
    entry = _entry(tmp_path)
    entry.store(_frame(_grid(0, 9)), _grid(0, 9), FAR_FUTURE)
    (entry.dir / "meta.json").write_text("{not json")
    with pytest.warns(UserWarning, match="unreadable cache file"):
        assert entry.missing(_grid(0, 9)) == [_grid(0, 9)]


# -- through PromSource ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def server():
    t = T0 + STEP * np.arange(N, dtype=np.int64)
    rng = np.random.default_rng(5)
    series = [Series({"__name__": "cached_x", "i": str(i)}, t, rng.random(N)) for i in range(3)]
    with PrometheusSandbox(series) as sandbox:
        yield sandbox


def _counting(source: PromSource) -> list[tuple[str, dict]]:
    calls: list = []

    def record(reply, *args, **kwargs):
        url = urlsplit(reply.request.url)
        calls.append((url.path, {k: v[0] for k, v in parse_qs(url.query).items()}))

    source.session.hooks["response"].append(record)
    return calls


def _ranges(calls) -> list[tuple[float, float]]:
    return [(float(p["start"]), float(p["end"])) for path, p in calls if path.endswith("range")]


@pytest.mark.prometheus
def test_a_repeat_pull_fetches_only_the_missing_part(server, tmp_path):
    source = PromSource(server.url, cache=tmp_path, progress=False)
    calls = _counting(source)
    source.range("cached_x", START_S + 3600, START_S + 7200, "1m")
    assert _ranges(calls) == [(START_S + 3600, START_S + 7200)]
    calls.clear()
    wider = source.range("cached_x", START_S, START_S + 10800, "1m")
    assert _ranges(calls) == [(START_S, START_S + 3540), (START_S + 7260, START_S + 10800)]
    calls.clear()
    again = source.range("cached_x", START_S, START_S + 10800, "1m")
    assert calls == []
    fresh = PromSource(server.url, progress=False).range("cached_x", START_S, START_S + 10800,
                                                         "1m")
    pd.testing.assert_frame_equal(wider, fresh)
    pd.testing.assert_frame_equal(again, fresh)


@pytest.mark.prometheus
def test_offline_serves_from_the_cache_and_names_a_miss(server, tmp_path):
    online = PromSource(server.url, cache=tmp_path, progress=False)
    pulled = online.range("cached_x", START_S, START_S + 3600, "1m")
    offline = PromSource(server.url, cache=tmp_path, offline=True, progress=False)
    calls = _counting(offline)
    pd.testing.assert_frame_equal(offline.range("cached_x", START_S, START_S + 3600, "1m"),
                                  pulled)
    with pytest.raises(CacheMiss) as info:
        offline.range("cached_x", START_S, START_S + 7200, "1m")
    message = str(info.value)
    assert "offline" in message and "cached_x" in message and str(tmp_path) in message
    assert "2023-11-14T23:15:00+00:00 to 2023-11-15T00:14:00+00:00" in message
    assert calls == []


@pytest.mark.prometheus
def test_the_last_minutes_are_fetched_again(server, tmp_path, monkeypatch):
    now = T0 + 500 * STEP
    monkeypatch.setattr(source_module, "now_ms", lambda: now)
    source = PromSource(server.url, cache=tmp_path, progress=False)
    calls = _counting(source)
    first = source.range("cached_x", START_S, "now", "1m")
    calls.clear()
    second = source.range("cached_x", START_S, "now", "1m")
    # Minute points up to now = T0 + 125 min; settled are those up to now - 10 min.
    assert _ranges(calls) == [((T0 + 116 * 60_000) / 1000, (T0 + 125 * 60_000) / 1000)]
    pd.testing.assert_frame_equal(first, second)


def test_offline_needs_a_cache():
    with pytest.raises(Exception, match="offline=True needs a cache"):
        PromSource("http://127.0.0.1:9", offline=True)
