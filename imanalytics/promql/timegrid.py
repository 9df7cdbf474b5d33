"""The evaluation grid: start, end and step as Prometheus' HTTP API reads them, in ms."""

from __future__ import annotations

import datetime as dt
import math
import numbers

import numpy as np
import pandas as pd

from .errors import PromQLError
from .lexer import _DURATION, parse_duration_ms


def to_ms(value) -> int:
    """A time as epoch milliseconds: pd.Timestamp, datetime, ISO string or epoch seconds."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise PromQLError(f"not a time: {value!r}")
        return int(round(float(value) * 1000))
    if isinstance(value, str):
        try:
            return to_ms(float(value))
        except ValueError:
            pass
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise PromQLError(f"not a time: {value!r}") from None
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return int(stamp.value // 1_000_000)


def duration_ms(value) -> int:
    """A step or window: "15s" / "1h30m", pd.Timedelta, datetime.timedelta or seconds."""
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(round(float(text) * 1000))
        except ValueError:
            if not _DURATION.fullmatch(text):
                raise PromQLError(f"not a duration: {value!r}") from None
            return parse_duration_ms(text)
    if isinstance(value, pd.Timedelta | dt.timedelta):
        return int(pd.Timedelta(value).value // 1_000_000)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return int(round(float(value) * 1000))
    raise PromQLError(f"not a duration: {value!r}")


def step_grid(start, end, step) -> np.ndarray:
    start_ms, end_ms, step_ms = to_ms(start), to_ms(end), duration_ms(step)
    if step_ms <= 0:
        raise PromQLError("zero or negative query resolution step widths are not accepted")
    if end_ms < start_ms:
        raise PromQLError("end timestamp must not be before start time")
    count = (end_ms - start_ms) // step_ms + 1
    return start_ms + step_ms * np.arange(count, dtype=np.int64)
