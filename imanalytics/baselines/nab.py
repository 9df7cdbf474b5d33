"""Numenta Anomaly Benchmark (NAB) scoring, and reading NAB-layout data folders.

NAB judges a detector by when it fires relative to labelled anomaly windows:

- the first ``min(floor(0.15·rows), 750)`` rows of a file are probation, never scored;
- in each window only the earliest detection counts, worth ``A_TP·S(p)/S(-1)`` with
  ``S(p) = 2/(1 + exp(5p)) − 1`` and ``p = −(right − i + 1)/window_rows`` (−1 at the left
  edge), so an early detection earns more than a late one; a window without one costs
  ``−A_FN``;
- a detection outside every window costs ``A_FP·S(q)``, ``q`` its distance past the
  previous window's right edge in units of that window's rows minus one (``S = −1`` beyond
  3), or ``−A_FP`` when no window precedes it.

The normalised score of a set of files is ``100·(S − S_null)/(S_perfect − S_null)`` with
``S_perfect = A_TP·windows`` and ``S_null = −A_FN·windows``.

A data folder has ``data/<category>/<file>.csv`` (``timestamp,value``) and
``windows.json`` (file → list of ``[start, end]``); `data_root` finds it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ENV_VAR = "IMANALYTICS_NAB_DIR"
PROBATION_SHARE = 0.15
PROBATION_MAX = 750


@dataclass(frozen=True)
class Profile:
    """NAB's weights: reward of a detected window, cost of a false positive and of a miss."""

    name: str
    tp: float = 1.0
    fp: float = 0.11
    fn: float = 1.0


PROFILES = {
    "standard": Profile("standard"),
    "reward_low_FP_rate": Profile("reward_low_FP_rate", fp=0.22),
    "reward_low_FN_rate": Profile("reward_low_FN_rate", fn=2.0),
}


@dataclass(frozen=True)
class FileScore:
    """A file's raw score, and NAB's row counts (detected window rows, detected rows
    outside windows, undetected window rows; probation rows excluded)."""

    raw: float
    tp: int
    fp: int
    fn: int
    windows: int
    hit: int = 0  # windows detected


def probation_rows(rows: int) -> int:
    return int(min(math.floor(PROBATION_SHARE * rows), PROBATION_MAX))


def sigmoid(p) -> np.ndarray:
    """NAB's scaled sigmoid: 1 well before a window's end, 0 at it, −1 from 3 widths past."""
    p = np.asarray(p, dtype=np.float64)
    return np.where(p > 3.0, -1.0, 2.0 / (1.0 + np.exp(5.0 * p)) - 1.0)


def window_rows(timestamps: pd.DatetimeIndex, windows) -> np.ndarray:
    """(left, right) row indices (inclusive) of each ``[start, end]`` window, in time order."""
    t = pd.DatetimeIndex(timestamps)
    pairs = []
    for start, end in windows:
        left = t.searchsorted(_stamp(start, t.tz), side="left")
        right = t.searchsorted(_stamp(end, t.tz), side="right") - 1
        if right >= left:
            pairs.append((left, right))
    return np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)


def _stamp(value, tz) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None and tz is not None:
        return stamp.tz_localize(tz)
    return stamp


def score_file(timestamps, detected, windows, profile: Profile = PROFILES["standard"]
               ) -> FileScore:
    """NAB raw score of one file: `detected` is a boolean per row of `timestamps`."""
    detected = np.asarray(detected, dtype=bool)
    bounds = window_rows(timestamps, windows)
    first = probation_rows(len(detected))
    rows = np.flatnonzero(detected)
    rows = rows[rows >= first]
    lefts, rights = bounds[:, 0], bounds[:, 1]
    # The last window starting at or before each detection, and whether it holds it.
    w = np.searchsorted(lefts, rows, side="right") - 1
    inside = (w >= 0) & (rows <= np.append(rights, -1)[w])  # w = -1: no window before
    widths = (rights - lefts + 1).astype(np.float64)
    raw = 0.0
    hit = np.zeros(len(bounds), dtype=bool)
    for i, k in zip(rows[inside], w[inside], strict=True):
        if not hit[k]:  # rows are in time order: the first one is the earliest
            hit[k] = True
            p = -(rights[k] - i + 1) / widths[k]
            raw += profile.tp * float(sigmoid(p) / sigmoid(-1.0))
    outside, before = rows[~inside], w[~inside]
    prev = before >= 0
    q = np.abs(outside[prev] - rights[before[prev]]) / (widths[before[prev]] - 1)
    raw += profile.fp * float(sigmoid(q).sum()) - profile.fp * int((~prev).sum())
    raw -= profile.fn * int((~hit).sum())
    in_window = np.zeros(len(detected), dtype=bool)
    for left, right in bounds:
        in_window[left:right + 1] = True
    scored = np.arange(len(detected)) >= first
    return FileScore(raw=raw, tp=int((detected & in_window & scored).sum()),
                     fp=int((detected & ~in_window & scored).sum()),
                     fn=int((~detected & in_window & scored).sum()), windows=len(bounds),
                     hit=int(hit.sum()))


def normalised(scores, profile: Profile = PROFILES["standard"]) -> float:
    """NAB's normalised score (0: no detections at all, 100: every window at its start)."""
    scores = list(scores)
    windows = sum(s.windows for s in scores)
    if windows == 0:
        return float("nan")
    perfect, null = profile.tp * windows, -profile.fn * windows
    return 100.0 * (sum(s.raw for s in scores) - null) / (perfect - null)


# -- data folders


def data_root(repo_root: Path | None = None) -> Path:
    """The NAB data folder: $IMANALYTICS_NAB_DIR, else ``../shared/nab-tune`` beside the
    repository (which may not exist: callers check)."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    root = repo_root or Path(__file__).resolve().parents[2]
    return root.parent / "shared" / "nab-tune"


def read_windows(root: Path) -> dict[str, list]:
    """File (``category/name.csv``) → list of ``[start, end]`` windows."""
    return json.loads((Path(root) / "windows.json").read_text())


def read_series(path: Path, column: str = "value") -> pd.Series:
    """One NAB csv as a float Series on a UTC index (NAB timestamps are naive UTC)."""
    frame = pd.read_csv(path)
    index = pd.DatetimeIndex(pd.to_datetime(frame["timestamp"])).tz_localize("UTC")
    return pd.Series(frame[column].to_numpy(dtype=np.float64), index=index, name=column)


def category(name: str) -> str:
    return name.split("/", 1)[0]
