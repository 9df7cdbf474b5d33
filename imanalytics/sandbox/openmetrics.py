"""Write raw series as OpenMetrics that ``promtool tsdb create-blocks-from openmetrics``
accepts: timestamps in seconds, each series' samples contiguous and in time order, ``# EOF``.

promtool re-reads its whole input once per 2 h block, so a long workload is written as
one file per block window (`write_block_files`) and each file is imported on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ..samples import Series, format_series

BLOCK_MS = 2 * 3600 * 1000  # promtool's default block duration


def write_openmetrics(series: Iterable[Series], path: str | Path) -> int:
    """Write `series` to one file; return the number of samples written."""
    writer = _Writer(list(series))
    return writer.write(Path(path), None)


def write_block_files(series: Iterable[Series], directory: str | Path,
                      window_ms: int = BLOCK_MS) -> tuple[list[Path], int]:
    """One file per aligned `window_ms` window that holds samples; (paths, samples written)."""
    writer = _Writer(list(series))
    if not writer.series:
        return [], 0
    first = min(int(s.t[0]) for s in writer.series if len(s)) // window_ms * window_ms
    last = max(int(s.t[-1]) for s in writer.series if len(s))
    paths, total = [], 0
    for k, lo in enumerate(range(first, last + 1, window_ms)):
        path = Path(directory) / f"block-{k:05d}.om"
        written = writer.write(path, (lo, lo + window_ms))
        if written:
            paths.append(path)
            total += written
        else:
            path.unlink()
    return paths, total


class _Writer:
    def __init__(self, series: Sequence[Series]):
        self.series = [s for s in series if len(s)]
        self.by_name: dict[str, list[Series]] = {}
        for s in self.series:
            self.by_name.setdefault(s.name, []).append(s)
        self.prefixes = {id(s): format_series(s.labels) for s in self.series}
        # Series of one instance share their timestamp array: format it once.
        self.stamps: dict[int, list[str]] = {}

    def write(self, path: Path, window: tuple[int, int] | None) -> int:
        written = 0
        with open(path, "w", encoding="utf-8", newline="\n") as out:
            for name in sorted(self.by_name):
                # Sample names carry their suffixes (_total, _bucket, ...), so each is its
                # own untyped family; a backfill stores no metadata anyway.
                out.write(f"# TYPE {name} unknown\n")
                for s in self.by_name[name]:
                    written += self._write_series(out, s, window)
            out.write("# EOF\n")
        return written

    def _write_series(self, out, s: Series, window: tuple[int, int] | None) -> int:
        lo, hi = (0, len(s)) if window is None else np.searchsorted(s.t, window)
        if hi <= lo:
            return 0
        stamps = self._stamps(s.t)[lo:hi]
        prefix = self.prefixes[id(s)]
        values = _values(s.v[lo:hi])
        out.write("".join([f"{prefix} {v} {t}\n" for v, t in zip(values, stamps, strict=True)]))
        return int(hi - lo)

    def _stamps(self, t: np.ndarray) -> list[str]:
        key = id(t)
        if key not in self.stamps:
            self.stamps[key] = format_timestamps(t)
        return self.stamps[key]


def format_timestamps(t_ms: np.ndarray) -> list[str]:
    """Integer milliseconds as exact decimal seconds (``1700000000.015``)."""
    secs, ms = np.divmod(np.asarray(t_ms, dtype=np.int64), 1000)
    return [f"{a}.{b:03d}" for a, b in zip(secs.tolist(), ms.tolist(), strict=True)]


def _values(v: np.ndarray) -> list[str]:
    # repr() round-trips float64 exactly, which Go's ParseFloat reads back bit for bit.
    out = list(map(repr, np.asarray(v, dtype=np.float64).tolist()))
    if not np.isfinite(v).all():
        out = [_SPECIAL.get(x, x) for x in out]
    return out


_SPECIAL = {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}
