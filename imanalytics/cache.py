"""Parquet cache of pulled ranges, so a repeat pull fetches only what it has not seen.

An entry is one (server, expression, step, phase) grid: the server URL carries no
credentials, and the phase is where the grid sits inside its step, so pulls whose starts
differ by whole steps share points. On disk::

    <root>/<sha256 of the identity>/meta.json        identity, coverage, part files
    <root>/<sha256 of the identity>/part-<id>.parquet one wide frame per stored pull

``coverage`` lists the grid intervals (inclusive, ms) that were pulled; inside them a point
missing from every part is a point where the server had no value. Parts are immutable: a
pull adds one part and rewrites ``meta.json``; past `MAX_PARTS` parts they are merged into
one. Every file is written to a temporary name in the same directory and moved into place
with `os.replace`, and ``meta.json`` is replaced last, so a process killed at any moment
leaves either the old entry or the new one, plus at worst an unreferenced file that the
next writer removes. Writers hold an exclusive `fcntl` lock on the entry, readers a shared one.

Freshness rule: points newer than ``now - settle`` (default 10 minutes) are never stored.
Samples can still arrive for the last few minutes (scrape intervals, remote-write lag,
recording rules evaluated late), so those points are fetched again on every pull until they
are older than `settle`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import ImanalyticsError
from .frames import Grid, time_index
from .timeparse import duration_ms

log = logging.getLogger(__name__)

MAX_PARTS = 16
FORMAT = 1


class CacheMiss(ImanalyticsError):
    """Offline mode asked for points the cache does not hold."""


class RangeCache:
    """A directory of cached range pulls; `entry` opens one expression's grid."""

    def __init__(self, root: str | os.PathLike, settle: str | pd.Timedelta = "10m"):
        self.root = Path(root)
        self.settle_ms = duration_ms(settle)

    def entry(self, server: str, expr: str, step: int, phase: int) -> CacheEntry:
        ident = {"server": server, "expr": expr, "step_ms": int(step), "phase_ms": int(phase)}
        digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()
        return CacheEntry(self.root / digest, ident)

    def __repr__(self) -> str:
        return f"RangeCache({str(self.root)!r}, settle={self.settle_ms // 1000}s)"


class CacheEntry:
    """The cached points of one (server, expression, step, phase) grid."""

    def __init__(self, directory: Path, ident: dict):
        self.dir = directory
        self.ident = ident

    def coverage(self) -> list[tuple[int, int]]:
        with self._locked(fcntl.LOCK_SH):
            return [tuple(c) for c in self._meta()["coverage"]]

    def missing(self, grid: Grid) -> list[Grid]:
        """The sub-grids of `grid` not covered yet, in time order."""
        gaps, cursor = [], grid.start
        for a, b in self.coverage():
            if b < cursor or a > grid.end:
                continue
            if a > cursor:
                gaps.append(Grid.spanning(cursor, a - grid.step, grid.step))
            cursor = b + grid.step
        if cursor <= grid.end:
            gaps.append(Grid.spanning(cursor, grid.end, grid.step))
        return gaps

    def read(self, grid: Grid) -> pd.DataFrame:
        """The covered points of `grid` as a wide frame (uncovered points are absent)."""
        with self._locked(fcntl.LOCK_SH):
            meta = self._meta()
            parts = [_clip(pd.read_parquet(self.dir / name), grid.start, grid.end)
                     for name in meta["parts"]]
        return combine(parts)

    def store(self, frame: pd.DataFrame, grid: Grid, settled_before: int) -> None:
        """Record that `grid` was pulled as `frame`; points after `settled_before` are dropped."""
        last = min(grid.end, settled_before - (settled_before - grid.start) % grid.step)
        if last < grid.start:
            return
        frame = _clip(frame, grid.start, last)
        self.dir.mkdir(parents=True, exist_ok=True)
        with self._locked(fcntl.LOCK_EX):
            meta = self._meta()
            name = f"part-{uuid.uuid4().hex}.parquet"
            atomic_write(self.dir / name, lambda tmp: _write_parquet(frame, tmp))
            meta["parts"].append(name)
            meta["coverage"] = _union(meta["coverage"] + [[grid.start, last]], grid.step)
            if len(meta["parts"]) > MAX_PARTS:
                meta["parts"] = [self._compact(meta["parts"])]
            atomic_write(self.dir / "meta.json",
                         lambda tmp: tmp.write_text(json.dumps(meta, indent=1)))
            self._sweep(meta["parts"])

    def _meta(self) -> dict:
        path = self.dir / "meta.json"
        empty = {"format": FORMAT, **self.ident, "coverage": [], "parts": []}
        if not path.exists():
            return empty
        try:
            meta = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            warnings.warn(f"ignoring unreadable cache file {path}: {exc}", stacklevel=3)
            return empty
        if any(meta.get(k) != v for k, v in self.ident.items()) or meta.get("format") != FORMAT:
            return empty
        return meta

    def _compact(self, parts: list[str]) -> str:
        merged = combine([pd.read_parquet(self.dir / name) for name in parts])
        name = f"part-{uuid.uuid4().hex}.parquet"
        atomic_write(self.dir / name, lambda tmp: _write_parquet(merged, tmp))
        return name

    def _sweep(self, keep: list[str]) -> None:
        # Under the exclusive lock no other writer is mid-write, so any file that meta.json
        # does not name is an old part or a temporary left by a killed process.
        for path in self.dir.iterdir():
            if path.name not in keep and path.name not in ("meta.json", ".lock"):
                path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _locked(self, mode: int) -> Iterator[None]:
        if not self.dir.exists():
            yield
            return
        with open(self.dir / ".lock", "a") as handle:
            fcntl.flock(handle, mode)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Write `path` through `write(tmp)` so readers see the old file or the whole new one."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def combine(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Stack wide frames over time: union of columns, sorted index, later rows win on ties."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(index=time_index(np.empty(0, dtype=np.int64)), dtype=np.float64)
    out = pd.concat(frames, axis=0, sort=False) if len(frames) > 1 else frames[0]
    out = out[~out.index.duplicated(keep="last")].sort_index()
    out = out.reindex(columns=pd.Index(sorted(out.columns), dtype=object, name="series"))
    return out.astype(np.float64)


def _clip(frame: pd.DataFrame, first: int, last: int) -> pd.DataFrame:
    ms = frame.index.as_unit("ms").asi8
    return frame[(ms >= first) & (ms <= last)]


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    frame.to_parquet(path, engine="pyarrow", index=True)


def _union(intervals: list[list[int]], step: int) -> list[list[int]]:
    """Merge inclusive grid intervals that overlap or touch (``b + step == a``)."""
    out: list[list[int]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1] + step:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
