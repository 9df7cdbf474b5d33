"""Frame shapes: wide columns name their label sets, long form keeps every label."""

from __future__ import annotations

import numpy as np
import pandas as pd

from imanalytics.frames import labels_of, parse_series, to_long, wide_frame
from imanalytics.samples import format_series


def test_series_names_round_trip_with_escapes():
    labels = {"__name__": "im_x", "path": '/a"b\\c', "msg": "line\nbreak", "z": ""}
    assert parse_series(format_series(labels)) == labels


def test_series_without_name_round_trips():
    assert parse_series(format_series({"job": "im"})) == {"job": "im"}
    assert parse_series("{}") == {}


def test_wide_frame_is_utc_sorted_float64():
    t = np.array([0, 15_000, 30_000], dtype=np.int64)
    frame = wide_frame(t, [{"b": "2"}, {"a": "1"}], np.array([[1, 2], [3, 4], [5, 6]]))
    assert str(frame.index.tz) == "UTC" and frame.index.name == "timestamp"
    assert list(frame.columns) == ['{a="1"}', '{b="2"}']
    assert frame.dtypes.unique().tolist() == [np.dtype("float64")]
    assert frame['{a="1"}'].tolist() == [2.0, 4.0, 6.0]
    assert frame.index[1] == pd.Timestamp("1970-01-01T00:00:15Z")


def test_labels_of_and_long_form():
    t = np.array([0, 15_000], dtype=np.int64)
    frame = wide_frame(t, [{"__name__": "m", "a": "x"}, {"__name__": "m", "b": "y"}],
                       np.array([[1.0, np.nan], [2.0, 3.0]]))
    labels = labels_of(frame)
    assert labels.loc['m{a="x"}', "a"] == "x" and pd.isna(labels.loc['m{a="x"}', "b"])
    long = to_long(frame)
    assert len(long) == 3  # the NaN point is dropped
    assert long["a"].dtype == "category"
    assert long.loc[long["b"] == "y", "value"].tolist() == [3.0]
