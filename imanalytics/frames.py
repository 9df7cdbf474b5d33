"""Frame shapes shared by the pull layer and the local evaluator.

Wide: a UTC ``DatetimeIndex`` named ``timestamp`` and one float64 column per series.
Each column is named by the series' Prometheus text form (``name{a="1",b="2"}``,
labels sorted), so the label set is always recoverable with `labels_of`. Missing
points are NaN.

Long: columns ``timestamp, value`` plus one categorical column per label.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from .samples import NAME, format_series

_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
_UNESCAPE = re.compile(r"\\(.)")


def time_index(t_ms: np.ndarray) -> pd.DatetimeIndex:
    """Integer epoch milliseconds as the frames' UTC index."""
    stamps = pd.to_datetime(np.asarray(t_ms, dtype=np.int64), unit="ms", utc=True)
    return pd.DatetimeIndex(stamps, name="timestamp")


def wide_frame(t_ms: np.ndarray, labelsets: Sequence[dict[str, str]],
               values: np.ndarray) -> pd.DataFrame:
    """Build a wide frame from a (time x series) value matrix, columns sorted by name."""
    names = [format_series(ls) for ls in labelsets]
    values = np.asarray(values, dtype=np.float64).reshape(len(t_ms), len(names))
    order = np.argsort(names, kind="stable")
    frame = pd.DataFrame(values[:, order], index=time_index(t_ms),
                         columns=pd.Index([names[i] for i in order], dtype=object))
    frame.columns.name = "series"
    return frame


def parse_series(text: str) -> dict[str, str]:
    """Inverse of `format_series`: ``name{a="1"}`` back to its label dict."""
    brace = text.find("{")
    name, body = (text, "") if brace < 0 else (text[:brace], text[brace + 1:-1])
    labels = {NAME: name} if name else {}
    pos = 0
    while pos < len(body):
        match = _LABEL.match(body, pos)
        if not match:
            raise ValueError(f"not a series name: {text!r}")
        labels[match.group(1)] = _UNESCAPE.sub(_unescape_char, match.group(2))
        pos = match.end()
    return labels


def _unescape_char(match: re.Match) -> str:
    return "\n" if match.group(1) == "n" else match.group(1)


def labels_of(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per column of a wide frame, one column per label (missing labels are NaN)."""
    rows = [parse_series(c) for c in frame.columns]
    return pd.DataFrame(rows, index=frame.columns)


def to_long(frame: pd.DataFrame) -> pd.DataFrame:
    """Wide to long: ``timestamp, value`` and one categorical column per label; NaN rows dropped."""
    labels = labels_of(frame)
    parts = []
    for column in frame.columns:
        values = frame[column].dropna()
        part = pd.DataFrame({"timestamp": values.index, "value": values.to_numpy()})
        for label, value in labels.loc[column].dropna().items():
            part[label] = value
        parts.append(part)
    if not parts:
        return pd.DataFrame({"timestamp": pd.DatetimeIndex([], tz="UTC"), "value": []})
    long = pd.concat(parts, ignore_index=True)
    for label in labels.columns:
        long[label] = long[label].astype("category")
    return long


# Prometheus API JSON -> numpy. Each series' ``[[t, "v"], ...]`` list is transposed once and
# each column converted in one vectorised call, so no Python object is made per sample. Arrow
# parses the value strings (correctly rounded, NaN/+Inf/-Inf included) about 5x faster than
# numpy's str -> float cast.

def sample_arrays(values: list) -> tuple[np.ndarray, np.ndarray]:
    """Prometheus ``[[t, "v"], ...]`` pairs as int64 epoch milliseconds and float64 values."""
    if not values:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    ts, vs = zip(*values, strict=True)
    t = np.rint(np.fromiter(ts, np.float64, len(ts)) * 1000.0).astype(np.int64)
    v = pa.array(vs, type=pa.string()).cast(pa.float64()).to_numpy().copy()
    return t, v


@dataclass(frozen=True)
class Grid:
    """A query_range step grid: ``n`` points ``start, start + step, ...`` in ms, ends inclusive."""

    start: int
    step: int
    n: int

    @classmethod
    def spanning(cls, start: int, end: int, step: int) -> Grid:
        """The grid from `start` by `step` up to the last point not after `end`."""
        if step <= 0:
            raise ValueError(f"step must be positive (got {step} ms)")
        if end < start:
            raise ValueError("the range ends before it starts")
        return cls(start, step, (end - start) // step + 1)

    @property
    def end(self) -> int:
        return self.start + (self.n - 1) * self.step

    @property
    def phase(self) -> int:
        """Where the grid sits within its step: equal phases and steps share points."""
        return self.start % self.step

    def times(self) -> np.ndarray:
        return self.start + self.step * np.arange(self.n, dtype=np.int64)

    def offset(self, t: int) -> int:
        """Index of grid point `t` (which must be on this grid)."""
        return (t - self.start) // self.step

    def split(self, max_points: int) -> list[Grid]:
        """Consecutive sub-grids of at most `max_points` points: no overlap, no gap."""
        size = max(1, max_points)
        return [Grid(self.start + k * self.step, self.step, min(size, self.n - k))
                for k in range(0, self.n, size)]


def grid_block(result: list[dict], start_ms: int, step_ms: int,
               n_points: int) -> tuple[list[dict[str, str]], np.ndarray]:
    """A ``query_range`` matrix result on its grid: label sets and a (points x series) matrix.

    Points the server did not return are NaN. Raises ValueError on a timestamp off the grid.
    """
    block = np.full((n_points, len(result)), np.nan, order="F")
    labelsets = []
    for j, item in enumerate(result):
        t, v = sample_arrays(item["values"])
        rows, off = np.divmod(t - start_ms, step_ms)
        if off.any() or (len(rows) and (rows[0] < 0 or rows[-1] >= n_points)):
            raise ValueError(f"{format_series(item['metric'])}: timestamps off the step grid")
        block[rows, j] = v
        labelsets.append(item["metric"])
    return labelsets, block
