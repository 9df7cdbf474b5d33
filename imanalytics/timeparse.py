"""Times and durations as the pull layer takes them, reduced to integer epoch milliseconds.

Times: `datetime`, `pd.Timestamp`, `np.datetime64`, ISO 8601 strings, epoch seconds (int,
float or numeric string) and relative forms ``"now"``, ``"now-7d"``, ``"now+1h30m"``. Naive
datetimes and ISO strings without an offset are taken as UTC.

Durations: Prometheus durations (``"250ms"``, ``"15s"``, ``"1h30m"``, ``"1d"``, ``"1w"``,
``"1y"`` = 365 days), `timedelta` / `pd.Timedelta`, or a number of seconds.

Prometheus stores millisecond timestamps, so everything is rounded to the millisecond.
"""

from __future__ import annotations

import datetime as dt
import re
import time

import numpy as np
import pandas as pd

from .errors import ImanalyticsError

_UNITS_MS = {"y": 365 * 86_400_000, "w": 7 * 86_400_000, "d": 86_400_000, "h": 3_600_000,
             "m": 60_000, "s": 1000, "ms": 1}
_DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?"
                       r"(?:(\d+)ms)?$")
_RELATIVE = re.compile(r"^now\s*(?:([+-])\s*(\S+))?$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
# Epoch seconds beyond this (year 5138) are almost certainly milliseconds passed by mistake.
_MAX_EPOCH_S = 1e11


class TimeParseError(ImanalyticsError, ValueError):
    """A time or duration the pull layer cannot read."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def is_relative(value) -> bool:
    """True for the ``"now..."`` forms, whose meaning moves with the clock."""
    return isinstance(value, str) and bool(_RELATIVE.match(value.strip().lower()))


def to_millis(value, now: int | None = None) -> int:
    """Epoch milliseconds of `value`; relative forms count from `now` (ms, default: the clock)."""
    if isinstance(value, str):
        return _str_millis(value.strip(), now)
    if isinstance(value, bool):
        raise TimeParseError(f"not a time: {value!r}")
    if isinstance(value, int | float | np.integer | np.floating):
        return _epoch_millis(float(value), value)
    if isinstance(value, dt.datetime | np.datetime64 | pd.Timestamp | dt.date):
        return _timestamp_millis(pd.Timestamp(value))
    raise TimeParseError(f"not a time: {value!r} (give a datetime, ISO string, epoch "
                         "seconds or 'now-1h')")


def to_timestamp(value, now: int | None = None) -> pd.Timestamp:
    """`value` as a UTC `pd.Timestamp` at millisecond precision."""
    return pd.Timestamp(to_millis(value, now), unit="ms", tz="UTC")


def duration_ms(value) -> int:
    """Milliseconds in a Prometheus duration, a timedelta or a number of seconds."""
    if isinstance(value, dt.timedelta | pd.Timedelta | np.timedelta64):
        return round(pd.Timedelta(value).value / 1_000_000)
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        return round(float(value) * 1000)
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER.match(text):
            return round(float(text) * 1000)
        match = _DURATION.match(text)
        if text and match:
            pairs = zip(match.groups(), _UNITS_MS, strict=True)
            return sum(int(n) * _UNITS_MS[u] for n, u in pairs if n)
    raise TimeParseError(f"not a duration: {value!r} (use Prometheus form like '15s', '5m', "
                         "'1h30m', or a timedelta)")


def format_duration(ms: int) -> str:
    """Prometheus duration text for `ms` milliseconds: ``5400000`` -> ``"1h30m"``."""
    if ms <= 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s", "ms"):
        count, ms = divmod(ms, _UNITS_MS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def format_seconds(ms: int) -> str:
    """Exact decimal epoch seconds for API parameters: ``1700000000015`` -> ``"1700000000.015"``."""
    sign, ms = ("-", -ms) if ms < 0 else ("", ms)
    return f"{sign}{ms // 1000}.{ms % 1000:03d}"


def _str_millis(text: str, now: int | None) -> int:
    relative = _RELATIVE.match(text.lower())
    if relative:
        base = now_ms() if now is None else now
        sign, offset = relative.groups()
        if not sign:
            return base
        delta = _relative_offset(offset, text)
        return base + delta if sign == "+" else base - delta
    if _NUMBER.match(text):
        return _epoch_millis(float(text), text)
    try:
        return _timestamp_millis(pd.Timestamp(text))
    except (ValueError, OverflowError) as exc:
        raise TimeParseError(f"not a time: {text!r} (give ISO 8601 like "
                             "'2026-03-01T12:00:00Z', epoch seconds or 'now-1h')") from exc


def _relative_offset(offset: str, text: str) -> int:
    try:
        return duration_ms(offset)
    except TimeParseError:
        raise TimeParseError(f"not a time: {text!r} (relative times look like 'now-7d' or "
                             "'now-1h30m')") from None


def _epoch_millis(seconds: float, original) -> int:
    if not np.isfinite(seconds) or abs(seconds) > _MAX_EPOCH_S:
        raise TimeParseError(f"not a time: {original!r} (numbers are epoch seconds; "
                             "milliseconds must be divided by 1000)")
    return round(seconds * 1000)


def _timestamp_millis(stamp: pd.Timestamp) -> int:
    if stamp is pd.NaT:
        raise TimeParseError("not a time: NaT")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    ns = stamp.as_unit("ns").value
    return (ns + 500_000) // 1_000_000
