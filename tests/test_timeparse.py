"""Times and durations: every accepted form reduces to exact epoch milliseconds."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from imanalytics.errors import ImanalyticsError
from imanalytics.timeparse import (
    TimeParseError,
    duration_ms,
    format_duration,
    format_seconds,
    is_relative,
    to_millis,
    to_timestamp,
)

T = 1_772_323_200_000  # 2026-03-01T00:00:00Z
NOW = T + 123


@pytest.mark.parametrize("value", [
    dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
    dt.datetime(2026, 3, 1),  # naive: UTC
    dt.datetime(2026, 3, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1))),
    pd.Timestamp("2026-03-01", tz="UTC"),
    pd.Timestamp("2026-02-28 19:00", tz="America/New_York"),
    np.datetime64("2026-03-01T00:00:00"),
    dt.date(2026, 3, 1),
    "2026-03-01T00:00:00Z",
    "2026-03-01T00:00:00",
    "2026-03-01",
    "2026-03-01T02:00:00+02:00",
    1_772_323_200,
    1_772_323_200.0,
    "1772323200",
])
def test_absolute_forms(value):
    assert to_millis(value) == T


def test_millisecond_precision():
    assert to_millis(1_772_323_200.015) == T + 15
    assert to_millis("2026-03-01T00:00:00.015Z") == T + 15
    assert to_millis(pd.Timestamp("2026-03-01T00:00:00.0149", tz="UTC")) == T + 15


@pytest.mark.parametrize("text, expected", [
    ("now", NOW),
    ("now-7d", NOW - 7 * 86_400_000),
    ("now-90m", NOW - 90 * 60_000),
    ("now - 1h30m", NOW - 5_400_000),
    ("now+15s", NOW + 15_000),
    ("NOW-1w", NOW - 7 * 86_400_000),
])
def test_relative_forms(text, expected):
    assert is_relative(text)
    assert to_millis(text, now=NOW) == expected


def test_relative_defaults_to_the_clock():
    before = pd.Timestamp.now(tz="UTC").value // 1_000_000
    assert before - 10_000 <= to_millis("now") - 0 <= before + 10_000
    assert not is_relative("2026-03-01") and not is_relative(5)


def test_to_timestamp_is_utc():
    stamp = to_timestamp("2026-03-01T02:00:00+02:00")
    assert stamp == pd.Timestamp("2026-03-01", tz="UTC") and str(stamp.tz) == "UTC"


@pytest.mark.parametrize("bad", ["yesterday", "now-7x", "now-", "2026-13-45", "", None, True,
                                 1_772_323_200_000, float("nan"), [1]])
def test_bad_times_raise_a_user_error(bad):
    with pytest.raises(TimeParseError) as info:
        to_millis(bad)
    assert isinstance(info.value, ImanalyticsError) and isinstance(info.value, ValueError)


def test_epoch_milliseconds_by_mistake_are_explained():
    with pytest.raises(TimeParseError, match="divided by 1000"):
        to_millis(1_772_323_200_000)


@pytest.mark.parametrize("value, ms", [
    ("15s", 15_000), ("5m", 300_000), ("1h30m", 5_400_000), ("250ms", 250), ("1d", 86_400_000),
    ("2w", 14 * 86_400_000), ("1y", 365 * 86_400_000), ("1m30s500ms", 90_500), ("15", 15_000),
    ("0.5", 500), (15, 15_000), (0.25, 250), (pd.Timedelta("90s"), 90_000),
    (dt.timedelta(minutes=2), 120_000), (np.timedelta64(3, "s"), 3000),
])
def test_durations(value, ms):
    assert duration_ms(value) == ms


@pytest.mark.parametrize("bad", ["5 minutes", "1m1h", "h", "", "-5m", None, True, "1.5h"])
def test_bad_durations(bad):
    with pytest.raises(TimeParseError, match="not a duration"):
        duration_ms(bad)


@pytest.mark.parametrize("ms", [1, 250, 15_000, 90_500, 5_400_000, 86_400_000, 694_861_001])
def test_format_duration_round_trips(ms):
    assert duration_ms(format_duration(ms)) == ms


def test_format_seconds_is_exact():
    assert format_seconds(T + 15) == "1772323200.015"
    assert format_seconds(5) == "0.005"
    assert format_seconds(-1500) == "-1.500"
    assert float(format_seconds(T + 999)) * 1000 == pytest.approx(T + 999, abs=0.01)
