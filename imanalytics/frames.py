"""Frame shapes shared by the pull layer and the local evaluator.

Wide: a UTC ``DatetimeIndex`` named ``timestamp`` and one float64 column per series.
Each column is named by the series' Prometheus text form (``name{a="1",b="2"}``,
labels sorted), so the label set is always recoverable with `labels_of`. Missing
points are NaN.

Long: columns ``timestamp, value`` plus one categorical column per label.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from .samples import NAME, format_series

_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
_UNESCAPE = re.compile(r"\\(.)")


def time_index(t_ms: np.ndarray) -> pd.DatetimeIndex:
    """Integer epoch milliseconds as the frames' UTC index."""
    stamps = pd.to_datetime(np.asarray(t_ms, dtype=np.int64), unit="ms", utc=True)
    return pd.DatetimeIndex(stamps, name="timestamp")


def wide_frame(t_ms: np.ndarray, labelsets: Sequence[dict[str, str]],
               values: np.ndarray, own: bool = False) -> pd.DataFrame:
    """Build a wide frame from a (time x series) value matrix, columns sorted by name.

    ``own=True`` hands `values` over: the frame may use it without copying.
    """
    names = [format_series(ls) for ls in labelsets]
    values = np.asarray(values, dtype=np.float64).reshape(len(t_ms), len(names))
    order = np.argsort(names, kind="stable")
    if not (order == np.arange(len(order))).all():
        values, own = values[:, order], True
    frame = pd.DataFrame(values, index=time_index(t_ms), copy=not own,
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


def by_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """A wide frame with a column `MultiIndex` by label (one level per label name, sorted;
    ``""`` where a series lacks the label), so ``frame["tenant-a"]`` or
    ``frame.xs("im-0:9100", level="instance", axis=1)`` select series by label."""
    labels = labels_of(frame)
    if labels.columns.empty:
        return frame
    labels = labels[sorted(labels.columns)].fillna("")
    out = frame.copy()
    out.columns = pd.MultiIndex.from_frame(labels.reset_index(drop=True))
    return out


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


# Prometheus API JSON -> numpy.
#
# A matrix reply is almost all sample lists, ``"values":[[1700000000,"0.5"],...]``. Parsing
# them with `json.loads` makes three Python objects per sample, so `parse_reply` cuts them out
# of the raw bytes and reads them all at once with Arrow's CSV reader (exact, NaN/+Inf/-Inf
# included); only the small rest (status, label sets, warnings) goes through `json.loads`.
# The cut is safe because ``"values":[[`` can only be a key: inside a JSON string every
# quote is escaped, and a sample list holds numbers and numeric strings, so its end is the
# first ``]]``. Anything unexpected (other spacing, a count mismatch, a value Arrow refuses)
# falls back to plain `json.loads` and a per-series conversion, which names what is wrong
# (`MalformedReply`) when the reply is valid JSON but not valid samples.

_VALUES = b'"values":[['
_CUT = b'"values":0'
# One thread per reply (the pull's own workers run replies side by side), and the system
# allocator: Arrow's default pool keeps a heap per thread that outlives the parse.
_CSV_READ = pacsv.ReadOptions(column_names=["", "t", "v"], use_threads=False)
_TO_CSV = bytes.maketrans(b"]", b"\n")
_TO_CSV_SPACED = bytes.maketrans(b"]\r\n", b"\n  ")
_CSV_CONVERT = pacsv.ConvertOptions(column_types={"t": pa.float64(), "v": pa.float64()},
                                    include_columns=["t", "v"],
                                    null_values=[], strings_can_be_null=False,
                                    quoted_strings_can_be_null=False)


class MalformedReply(ValueError):
    """Valid JSON whose sample lists are not Prometheus samples (``[time, "value"]``)."""


def parse_reply(body: bytes):
    """A Prometheus API reply; each matrix item gets int64 ms ``t`` and float64 ``v`` arrays
    in place of its ``values`` list."""
    skeleton, spans = _cut_sample_lists(body)
    if spans:
        try:
            return _fill_samples(json.loads(skeleton), body, spans)
        except (ValueError, KeyError, TypeError, pa.ArrowException):
            pass
    return _fill_samples(json.loads(body), body, [])


def sample_arrays(values: list) -> tuple[np.ndarray, np.ndarray]:
    """Prometheus ``[[t, "v"], ...]`` pairs as int64 epoch milliseconds and float64 values."""
    if not values:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    ts, vs = zip(*values, strict=True)
    t = np.rint(np.fromiter(ts, np.float64, len(ts)) * 1000.0).astype(np.int64)
    v = pa.array(vs, type=pa.string()).cast(pa.float64()).to_numpy().copy()
    return t, v


def _cut_sample_lists(body: bytes) -> tuple[bytes, list[tuple[int, int]]]:
    """`body` with every ``"values":[[...]]`` replaced by ``"values":0``, and where the cut
    lists' samples lie in `body` (``t,"v"],[t,"v"``: spans, so no copy of the samples)."""
    pieces, spans, pos = [], [], 0
    while (found := body.find(_VALUES, pos)) >= 0:
        first = found + len(_VALUES)
        last = body.find(b"]]", first)
        if last < 0:
            break
        pieces += [body[pos:found], _CUT]
        spans.append((first, last))
        pos = last + 2
    pieces.append(body[pos:])
    return b"".join(pieces), spans


def _fill_samples(reply, body: bytes, spans: list[tuple[int, int]]):
    data = reply.get("data") if isinstance(reply, dict) else None
    matrix = isinstance(data, dict) and data.get("resultType") == "matrix"
    items = data["result"] if matrix and isinstance(data.get("result"), list) else []
    cut = [item for item in items if isinstance(item, dict) and item.get("values") == 0]
    if len(cut) != len(spans):
        raise ValueError("sample lists do not match the matrix items")
    if spans:
        ends = np.cumsum([body.count(b"],[", a, b) + 1 for a, b in spans])
        # Values are quoted strings; bare numbers mean something else wrote the reply.
        quotes = sum(body.count(b'"', a, b) for a, b in spans)
        t, v = read_sample_lists(body, spans)
        if ends[-1] != len(t):
            raise ValueError("sample count mismatch")
        if quotes != 2 * len(t):
            raise ValueError("sample values not quoted")
        for item, a, b in zip(cut, np.r_[0, ends[:-1]], ends, strict=True):
            item["t"], item["v"] = t[a:b], v[a:b]
            del item["values"]
    for item in items:
        if isinstance(item, dict) and "values" in item:
            item["t"], item["v"] = _checked_samples(item.pop("values"), item.get("metric"))
    return reply


def _checked_samples(values, labels) -> tuple[np.ndarray, np.ndarray]:
    """`sample_arrays`, raising `MalformedReply` naming the series on anything else."""
    name = format_series(labels) if isinstance(labels, dict) else "a series"
    if not isinstance(values, list) or not all(
            isinstance(p, list) and len(p) == 2 and isinstance(p[1], str) for p in values):
        raise MalformedReply(f'{name}: samples must be [time, "value"] pairs')
    try:
        return sample_arrays(values)
    except (TypeError, ValueError, pa.ArrowException) as exc:
        raise MalformedReply(f"{name}: unreadable samples ({type(exc).__name__})") from None


def read_sample_lists(body: bytes, spans: list[tuple[int, int]],
                      spaced: bool = False) -> tuple[np.ndarray, np.ndarray]:
    # Joined straight from views of the body, then one pass: every ``],[`` (the joins too)
    # becomes a line break and a leading empty column, ``,t,v`` lines with quotes dropped.
    # A re-spaced list's line breaks become spaces: Arrow trims spaces and tabs around a
    # number and refuses them inside one, as the whole parse does.
    view = memoryview(body)
    text = b"],[".join([b"", *(view[a:b] for a, b in spans)]).translate(
        _TO_CSV_SPACED if spaced else _TO_CSV, b'["')
    table = pacsv.read_csv(io.BytesIO(text), read_options=_CSV_READ,
                           convert_options=_CSV_CONVERT, memory_pool=pa.system_memory_pool())
    del text
    t = np.rint(table.column("t").to_numpy() * 1000.0).astype(np.int64)
    v = table.column("v").to_numpy()
    return t, v if v.flags.writeable else v.copy()


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
    """A `parse_reply` matrix result on its grid: label sets and a (points x series) matrix.

    Points the server did not return are NaN. Raises ValueError on a timestamp off the grid.
    """
    block = np.full((n_points, len(result)), np.nan, order="F")
    place_block(result, block, np.arange(len(result)), start_ms, step_ms)
    return [item["metric"] for item in result], block


def place_block(result: list[dict], target: np.ndarray, columns: np.ndarray, start_ms: int,
                step_ms: int) -> None:
    """Write a `parse_reply` matrix result into `target` (row 0 at `start_ms`), item i in
    column ``columns[i]``. Raises ValueError on a timestamp off the grid or repeated."""
    if not result:
        return
    # One vectorised placement for the whole reply rather than one per series.
    lengths = [len(item["t"]) for item in result]
    t = np.concatenate([item["t"] for item in result])
    _refuse_repeats(t, lengths, [item["metric"] for item in result])
    rows, off = np.divmod(t - start_ms, step_ms)
    if len(t) and (off.any() or rows.min() < 0 or rows.max() >= len(target)):
        raise ValueError("timestamps off the step grid")
    target[rows, np.repeat(columns, lengths)] = np.concatenate([item["v"] for item in result])


def refuse_repeats(result: list[dict]) -> None:
    """Raise ValueError unless every series of a parsed matrix `result` has rising times."""
    if result:
        _refuse_repeats(np.concatenate([item["t"] for item in result]),
                        [len(item["t"]) for item in result], [item["metric"] for item in result])


def refuse_unordered(t: np.ndarray, after: int | None, labels: dict) -> None:
    """Raise ValueError unless `t` rises, and starts after `after` (the series' last time)."""
    if (np.diff(t) <= 0).any() or (after is not None and len(t) and t[0] <= after):
        raise ValueError(f"{format_series(labels)} has a repeated or unordered timestamp; the "
                         "server or a proxy in front of it is misbehaving")


def _refuse_repeats(t: np.ndarray, lengths: list[int], labelsets: list[dict]) -> None:
    """A series' timestamps must rise: a repeat would silently overwrite a value."""
    if len(t) < 2:
        return
    ends = np.cumsum(lengths)
    bad = np.diff(t) <= 0
    joins = ends[:-1][(ends[:-1] > 0) & (ends[:-1] < len(t))]
    bad[joins - 1] = False  # where one series ends and the next begins
    if bad.any():
        series = int(np.searchsorted(ends, np.flatnonzero(bad)[0] + 1, side="right"))
        raise ValueError(f"{format_series(labelsets[series])} has a repeated or unordered "
                         "timestamp; the server or a proxy in front of it is misbehaving")
