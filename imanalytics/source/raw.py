"""Raw pulls: every stored sample, in chunks whose edges follow the engine's window rules."""

from __future__ import annotations

import numpy as np

from ..frames import refuse_repeats, refuse_unordered
from ..samples import Series, format_series
from ..timeparse import format_seconds
from .engines import trim
from .errors import QueryError
from .replies import _refuse_histograms, _result


class RawPulls:
    """The raw side of `PromSource`: sizing and fetching chunks of stored samples."""

    def _raw_size(self, selector: str, first: int, last: int) -> tuple[int, int]:
        """Series and samples in the range, counted server-side without shipping samples."""
        window = self._window(first, last)
        exprs = [f"count(count_over_time({selector}[{window}ms]))",
                 f"sum(count_over_time({selector}[{window}ms]))"]
        series, samples = self._map(lambda e: self._count(e, last, selector), exprs, None)
        return series, samples

    def _raw_chunk(self, selector: str, span: tuple[int, int], block: int) -> list[Series]:
        """One request, its samples streamed into per-series arrays."""
        first, last = span
        expr = f"{selector}[{self._window(first, last)}ms]"
        params = self._query_params(expr, time=format_seconds(last))
        samples = RawSamples()
        data = self._api_streamed("/api/v1/query", params, selector, samples, block)
        if isinstance(data, dict) and data.get("resultType") in ("vector", "scalar", "string"):
            raise QueryError(selector, "result", "raw() needs a vector selector like "
                             "name{label=\"value\"}")
        _, result = _result(data, selector, "matrix")
        _refuse_histograms(result, selector)
        try:
            refuse_repeats(result)
        except ValueError as exc:
            raise QueryError(selector, "result", str(exc)) from None
        whole = [Series(item["metric"], item["t"], item["v"]) for item in result if len(item["t"])]
        return trim(samples.series() + whole, first, last)

    def _window(self, first: int, last: int) -> int:
        """Range-selector length (ms) that selects exactly ``first <= t <= last`` at ``last``."""
        return last - first + 1 if self._left_open() else last - first

    def _left_open(self) -> bool:
        # An engine of unsure edges gets the wider window; `trim` drops the extra sample.
        return self.engine.left_open is not False


class RawSamples:
    """A raw request's series as its reply streams in: each series' pieces, in order."""

    def __init__(self):
        self.labelsets: list[dict] = []
        self._columns: dict[str, int] = {}
        self._parts: list[list[tuple[np.ndarray, np.ndarray]]] = []

    def column(self, labels: dict) -> int:
        name = format_series(labels)
        if name not in self._columns:
            self._columns[name] = len(self.labelsets)
            self.labelsets.append(labels)
            self._parts.append([])
        return self._columns[name]

    def write(self, column: int, t: np.ndarray, v: np.ndarray, after: int | None) -> None:
        refuse_unordered(t, after, self.labelsets[column])
        self._parts[column].append((t.copy(), v.copy()))  # not views of the whole block

    def clear(self, columns: list[int]) -> None:
        for column in columns:
            self._parts[column].clear()

    def series(self) -> list[Series]:
        """The series so far; their pieces are let go one series at a time as they join."""
        out = []
        for labels, parts in zip(self.labelsets, self._parts, strict=True):
            if parts:
                out.append(Series(labels, np.concatenate([t for t, _ in parts]),
                                  np.concatenate([v for _, v in parts])))
                parts.clear()
        return out


def _raw_spans(first: int, last: int, samples: int, budget: int) -> list[tuple[int, int]]:
    """Split ``[first, last]`` (ms, inclusive) into equal spans of about `budget` samples.

    Spans touch without overlapping (next first = previous last + 1) and are at least 2 ms
    long, so every closed window has a positive length.
    """
    count = max(1, min(-(-samples // budget), (last - first + 1) // 2))
    edges = np.linspace(first, last + 1, count + 1).round().astype(np.int64).tolist()
    return [(a, b - 1) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def _merge_raw(parts: list[list[Series]], selector: str) -> list[Series]:
    """Each series' chunks joined, in name order. Takes `parts` over: the chunks are let go
    one series at a time, so the pull holds its result about once, not twice."""
    pieces: dict[str, list[Series]] = {}
    for part in parts:
        for s in part:
            pieces.setdefault(format_series(s.labels), []).append(s)
    parts.clear()
    out = []
    for name in sorted(pieces):
        chunks = pieces.pop(name)
        t = np.concatenate([c.t for c in chunks]) if len(chunks) > 1 else chunks[0].t
        v = np.concatenate([c.v for c in chunks]) if len(chunks) > 1 else chunks[0].v
        if len(t) > 1 and not (np.diff(t) > 0).all():
            raise QueryError(selector, "result", f"{name}: chunked samples overlap; is the "
                             "server version right (PromSource(..., version=...))?")
        out.append(Series(chunks[0].labels, t, v))
    return out
