"""Range pulls: the step grid, its split into chunks, and stitching chunks into one frame."""

from __future__ import annotations

import pandas as pd

from ..cache import CacheMiss, RangeCache, combine
from ..frames import Grid, time_index
from ..samples import format_series
from ..timeparse import duration_ms, format_seconds, is_relative, now_ms, to_millis
from .canvas import Canvas
from .credentials import identity_hash
from .errors import QueryError, SourceError, TooManyPoints, TooManySeries, _iso, _short
from .replies import _instant_value, _is_labelset, _refuse_histograms, _result
from .shards import is_selector, shard_label, value_groups, with_matcher
from .stream import block_size


class RangePulls:
    """The range side of `PromSource`: grid, chunks, series guard, cache."""

    def _grid(self, start, end, step, expr: str) -> Grid:
        now = now_ms()
        step_ms = duration_ms(step)
        if step_ms <= 0:
            raise SourceError(f"step must be positive (got {step!r})")
        first, last = to_millis(start, now), to_millis(end, now)
        if is_relative(start):
            first -= first % step_ms
        if last < first:
            raise SourceError(f"the range ends before it starts ({start!r} to {end!r})")
        points = (last - first) // step_ms + 1
        if points > self.max_range_points:
            raise TooManyPoints(
                f"{_short(expr)} from {start!r} to {end!r} every {step!r} is {points:,} points "
                f"per series, more than max_range_points={self.max_range_points:,}: use a "
                "shorter range or a longer step, or raise the limit with "
                f"PromSource(..., max_range_points={points})")
        return Grid.spanning(first, last, step_ms)

    def _pull_range(self, expr: str, grid: Grid) -> pd.DataFrame:
        expected = self._expected_series(expr, grid)
        known, shards = self._shards(expr, grid, expected, self.max_samples)
        canvas = Canvas(grid, known, expected)
        tasks = [(part, chunk) for part, series in shards
                 for chunk in grid.split(self._points_per_request(series, self.max_samples))]
        block = block_size(expected * grid.n)
        self._map(lambda task: self._range_chunk(*task, canvas, expr, block), tasks, expr,
                  lambda _: self._check_series(expr, len(canvas)))
        return canvas.frame()

    def _points_per_request(self, series: int, budget: int) -> int:
        """Points per series in one request: `budget` samples spread over its series."""
        return max(1, min(self.max_points, budget // max(series, 1)))

    def _shards(self, expr: str, grid: Grid, expected: int,
                budget: int) -> tuple[list[dict], list]:
        """Known label sets, and ``(expression, series)`` parts whose replies fit `budget`
        samples (a selector split on one label's values; anything else whole)."""
        points = min(grid.n, self.max_points)
        if expected * points <= budget or not is_selector(expr):
            return [], [(expr, expected)]
        found = self._series_in(expr, grid)
        label = shard_label(found)
        if label is None:
            return [], [(expr, expected)]
        groups = value_groups(found, label, max(1, budget // points))
        parts = [(with_matcher(expr, label, "=~", values), n) for values, n in groups]
        # Series the listing missed (newer, or only in the lookback): disjoint from the rest.
        every = [v for values, _ in groups for v in values]
        parts.append((with_matcher(expr, label, "!~", every), 1))
        return sorted(found, key=format_series), parts

    def _series_in(self, expr: str, grid: Grid) -> list[dict]:
        params = {"match[]": [expr], "start": format_seconds(grid.start),
                  "end": format_seconds(grid.end)}
        found = self._api("/api/v1/series", params, expr)
        if not isinstance(found, list) or not all(_is_labelset(r) for r in found):
            raise QueryError(expr, "reply", "the series list is not a list of label sets")
        return found

    def _range_chunk(self, expr: str, grid: Grid, canvas: Canvas, blame: str,
                     block: int) -> None:
        """One request, its samples streamed into `canvas`."""
        params = self._query_params(expr, start=format_seconds(grid.start),
                                    end=format_seconds(grid.end), step=format_seconds(grid.step))
        data = self._api_streamed("/api/v1/query_range", params, blame, canvas.region(grid),
                                  block)
        _, result = _result(data, blame, "matrix")
        _refuse_histograms(result, blame)
        try:
            canvas.place(result, grid)
        except ValueError as exc:
            raise QueryError(blame, "result", str(exc)) from None

    def _expected_series(self, expr: str, grid: Grid) -> int:
        """Series `expr` returns at the grid's ends: cheap, and refuses huge pulls early."""
        if self.max_series is None and grid.n <= self.max_points:
            return 1
        ends = [grid.start] if grid.n == 1 else [grid.start, grid.end]
        # The newlines keep a trailing PromQL comment from swallowing the closing brackets.
        count = f"count((\n{expr}\n))"
        try:
            found = self._map(lambda t: self._count(count, t, expr), ends, None)
        except QueryError:
            return 1  # not an instant vector (e.g. a scalar): the pull itself will tell
        expected = max(found)
        self._check_series(expr, expected)
        return expected

    def _count(self, expr: str, t: int, blame: str) -> int:
        """The value of a one-number `expr` at `t` (0 when empty); errors name `blame`."""
        data = self._api("/api/v1/query", self._query_params(expr, time=format_seconds(t)), blame)
        _, result = _result(data, blame, "vector")
        return int(_instant_value(result[0].get("value"), blame)) if result else 0

    def _check_series(self, expr: str, count: int) -> None:
        if self.max_series is not None and count > self.max_series:
            raise TooManySeries(
                f"{_short(expr)} returns {count} series, more than max_series="
                f"{self.max_series}: narrow it with label matchers or aggregate it "
                f"(sum by (...)), or raise the limit with PromSource(..., max_series={count})"
            )

    def _cached_range(self, expr: str, grid: Grid) -> pd.DataFrame:
        entry = self.cache.entry(self.url, expr, grid.step, grid.phase, self.identity)
        cached, gaps = entry.load(grid)
        if gaps and self.offline:
            raise CacheMiss(_miss_message(expr, gaps, self.cache))
        fresh = [self._pull_range(expr, gap) for gap in gaps]
        settled = now_ms() - self.cache.settle_ms
        for gap, frame in zip(gaps, fresh, strict=True):
            entry.store(frame, gap, settled)
        return _on_grid(combine([cached, *fresh]), grid)

    @property
    def identity(self) -> str:
        """Who the server sees: a one-way hash of the headers and credentials ("" for none).

        Cache entries are keyed by it, so two tenants (``X-Scope-OrgID``) or two users of
        one server never share cached data, while the secrets themselves are never stored.
        """
        if not hasattr(self, "_identity_hash"):
            self._identity_hash = identity_hash(*self._identity)
        return self._identity_hash


def _on_grid(frame: pd.DataFrame, grid: Grid) -> pd.DataFrame:
    out = frame.reindex(time_index(grid.times()))
    out.columns = pd.Index(out.columns, dtype=object, name="series")
    return out


def _miss_message(expr: str, gaps: list[Grid], cache: RangeCache) -> str:
    spans = ", ".join(f"{_iso(g.start)} to {_iso(g.end)}" for g in gaps[:3])
    more = f" and {len(gaps) - 3} more" if len(gaps) > 3 else ""
    return (f"offline: {_short(expr)} is not cached in {cache.root} for {spans}{more} "
            f"(step {gaps[0].step // 1000}s); pull it once online")

