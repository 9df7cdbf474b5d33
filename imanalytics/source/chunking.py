"""Range pulls: the step grid, its split into chunks, and stitching chunks into one frame."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..cache import CacheMiss, RangeCache, combine
from ..frames import Grid, grid_block, time_index, wide_frame
from ..samples import format_series
from ..timeparse import duration_ms, format_seconds, is_relative, now_ms, to_millis
from .credentials import identity_hash
from .errors import QueryError, SourceError, TooManyPoints, TooManySeries, _iso, _short
from .replies import _instant_value, _refuse_histograms, _result


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
        per_chunk = max(1, min(self.max_points, self.max_samples // max(expected, 1)))
        chunks = grid.split(per_chunk)
        seen: set[str] = set()

        def check(block: tuple[list[dict], np.ndarray]) -> None:
            seen.update(format_series(labels) for labels in block[0])
            self._check_series(expr, len(seen))

        blocks = self._map(lambda g: self._range_chunk(expr, g), chunks, expr, check)
        return _assemble(grid, chunks, blocks)

    def _range_chunk(self, expr: str, grid: Grid) -> tuple[list[dict], np.ndarray]:
        params = self._query_params(expr, start=format_seconds(grid.start),
                                    end=format_seconds(grid.end), step=format_seconds(grid.step))
        _, result = _result(self._api("/api/v1/query_range", params, expr), expr, "matrix")
        _refuse_histograms(result, expr)
        try:
            return grid_block(result, grid.start, grid.step, grid.n)
        except ValueError as exc:
            raise QueryError(expr, "result", str(exc)) from None

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


def _assemble(grid: Grid, chunks: list[Grid], blocks: list) -> pd.DataFrame:
    """Stitch per-chunk (label sets, matrix) blocks into one wide frame on `grid`."""
    if len(blocks) == 1:
        return wide_frame(grid.times(), *blocks[0])
    columns: dict[str, int] = {}
    labelsets: list[dict] = []
    for labels_in_block, _ in blocks:
        for labels in labels_in_block:
            name = format_series(labels)
            if name not in columns:
                columns[name] = len(labelsets)
                labelsets.append(labels)
    full = np.full((grid.n, len(labelsets)), np.nan, order="F")
    for chunk, (labels_in_block, block) in zip(chunks, blocks, strict=True):
        cols = [columns[format_series(labels)] for labels in labels_in_block]
        row = grid.offset(chunk.start)
        full[row:row + chunk.n, cols] = block
    return wide_frame(grid.times(), labelsets, full)


def _on_grid(frame: pd.DataFrame, grid: Grid) -> pd.DataFrame:
    out = frame.reindex(time_index(grid.times()))
    out.columns = pd.Index(out.columns, dtype=object, name="series")
    return out


def _miss_message(expr: str, gaps: list[Grid], cache: RangeCache) -> str:
    spans = ", ".join(f"{_iso(g.start)} to {_iso(g.end)}" for g in gaps[:3])
    more = f" and {len(gaps) - 3} more" if len(gaps) > 3 else ""
    return (f"offline: {_short(expr)} is not cached in {cache.root} for {spans}{more} "
            f"(step {gaps[0].step // 1000}s); pull it once online")

