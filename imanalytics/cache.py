"""Parquet cache of pulled ranges, so a repeat pull fetches only what it has not seen.

An entry is one (server, identity, expression, step, phase) grid: the server URL carries
no credentials; the identity is a one-way hash of the headers and credentials the pull
was made with (`source.identity_hash`), so tenants and users of one server never share
an entry; the phase is where the grid sits inside its step, so pulls whose starts
differ by whole steps share points. On disk::

    <root>/<sha256 of the key>/meta.json        key, coverage, part files and their sha256
    <root>/<sha256 of the key>/part-<id>.parquet one wide frame per stored pull

``coverage`` lists the grid intervals (inclusive, ms) that were pulled; inside them a point
missing from every part is a point where the server had no value. Parts are immutable: a
pull adds one part and rewrites ``meta.json``; past `MAX_PARTS` parts they are merged into
one. Every file is written to a temporary name in the same directory and moved into place
with `os.replace`, and ``meta.json`` is replaced last, so a process killed at any moment
leaves either the old entry or the new one, plus at worst an unreferenced file that the
next writer removes. Writers hold an exclusive `fcntl` lock on the entry, readers a shared one.

A part that is missing, truncated or altered (its sha256 no longer matches) makes the
whole entry count as not cached: `CacheEntry.load` warns naming the entry, empties it and
reports the grid as missing, so the pull fetches it again and the next store repairs it.

Freshness rule: points newer than ``now - settle`` (default 10 minutes) are never stored.
Samples can still arrive for the last few minutes (scrape intervals, remote-write lag,
recording rules evaluated late), so those points are fetched again on every pull until they
are older than `settle`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
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
FORMAT = 2  # 2: the key holds the identity, meta.json the parts' sha256


class CacheMiss(ImanalyticsError):
    """Offline mode asked for points the cache does not hold."""


class DamagedPart(ImanalyticsError):
    """A part file of an entry is missing or does not hold what was written."""


class RangeCache:
    """A directory of cached range pulls; `entry` opens one expression's grid."""

    def __init__(self, root: str | os.PathLike, settle: str | pd.Timedelta = "10m"):
        self.root = Path(root)
        self.settle_ms = duration_ms(settle)

    def entry(self, server: str, expr: str, step: int, phase: int,
              identity: str = "") -> CacheEntry:
        ident = {"server": server, "identity": identity, "expr": expr, "step_ms": int(step),
                 "phase_ms": int(phase)}
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
        """The covered points of `grid` as a wide frame (uncovered points are absent).

        Raises `DamagedPart` when a part is missing or not what was written."""
        with self._locked(fcntl.LOCK_SH):
            meta = self._meta()
            parts = [_clip(self._part(meta, name), grid.start, grid.end)
                     for name in meta["parts"]]
        return combine(parts)

    def load(self, grid: Grid) -> tuple[pd.DataFrame, list[Grid]]:
        """The cached points of `grid` and the sub-grids still to fetch; a damaged entry
        is emptied with a warning (its points then all count as missing)."""
        try:
            return self.read(grid), self.missing(grid)
        except DamagedPart as exc:
            warnings.warn(f"cache entry {self.dir} for {self.ident['expr']!r} is damaged "
                          f"({exc}); fetching it again", stacklevel=3)
            self.clear()
            return self.read(grid), self.missing(grid)

    def clear(self) -> None:
        """Forget every part of the entry (their files are removed)."""
        if not self.dir.exists():
            return
        with self._locked(fcntl.LOCK_EX):
            empty = {"format": FORMAT, **self.ident, "coverage": [], "parts": [], "sha256": {}}
            atomic_write(self.dir / "meta.json",
                         lambda tmp: tmp.write_text(json.dumps(empty, indent=1)))
            self._sweep([])

    def _part(self, meta: dict, name: str) -> pd.DataFrame:
        path = self.dir / name
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise DamagedPart(f"{name}: {exc.strerror or exc}") from None
        if hashlib.sha256(data).hexdigest() != meta["sha256"].get(name):
            raise DamagedPart(f"{name}: contents changed since written")
        return pd.read_parquet(io.BytesIO(data))

    def store(self, frame: pd.DataFrame, grid: Grid, settled_before: int) -> None:
        """Record that `grid` was pulled as `frame`; points after `settled_before` are dropped."""
        last = min(grid.end, settled_before - (settled_before - grid.start) % grid.step)
        if last < grid.start:
            return
        frame = _clip(frame, grid.start, last)
        self.dir.mkdir(parents=True, exist_ok=True)
        with self._locked(fcntl.LOCK_EX):
            meta = self._meta()
            name, digest = _write_part(self.dir, frame)
            meta["parts"].append(name)
            meta["sha256"][name] = digest
            meta["coverage"] = _union(meta["coverage"] + [[grid.start, last]], grid.step)
            if len(meta["parts"]) > MAX_PARTS:
                name, digest = _write_part(self.dir, combine(
                    [self._part(meta, part) for part in meta["parts"]]))
                meta["parts"], meta["sha256"] = [name], {name: digest}
            atomic_write(self.dir / "meta.json",
                         lambda tmp: tmp.write_text(json.dumps(meta, indent=1)))
            self._sweep(meta["parts"])

    def _meta(self) -> dict:
        path = self.dir / "meta.json"
        empty = {"format": FORMAT, **self.ident, "coverage": [], "parts": [], "sha256": {}}
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


def _write_part(directory: Path, frame: pd.DataFrame) -> tuple[str, str]:
    """Store `frame` as a new part file; its name and the sha256 of its bytes."""
    name = f"part-{uuid.uuid4().hex}.parquet"
    atomic_write(directory / name, lambda tmp: _write_parquet(frame, tmp))
    return name, hashlib.sha256((directory / name).read_bytes()).hexdigest()


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
