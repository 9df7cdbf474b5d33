"""OpenMetrics output for promtool: exact values and timestamps, grouped series."""

from __future__ import annotations

import numpy as np

from imanalytics.samples import Series
from imanalytics.sandbox.openmetrics import format_timestamps, write_openmetrics


def test_timestamps_are_exact_decimal_seconds():
    assert format_timestamps(np.array([1_700_000_000_015, 5], dtype=np.int64)) == [
        "1700000000.015", "0.005"]


def test_file_groups_series_and_ends_with_eof(tmp_path):
    t = np.array([1000, 2000], dtype=np.int64)
    series = [
        Series({"__name__": "b_total", "x": "1"}, t, np.array([0.1, 1e300])),
        Series({"__name__": "a", "x": '"q"'}, t, np.array([np.nan, -np.inf])),
        Series({"__name__": "b_total", "x": "2"}, t, np.array([3.0, 4.0])),
    ]
    path = tmp_path / "w.om"
    assert write_openmetrics(series, path) == 6
    lines = path.read_text().splitlines()
    assert lines == [
        "# TYPE a unknown",
        'a{x="\\"q\\""} NaN 1.000',
        'a{x="\\"q\\""} -Inf 2.000',
        "# TYPE b_total unknown",
        'b_total{x="1"} 0.1 1.000',
        'b_total{x="1"} 1e+300 2.000',
        'b_total{x="2"} 3.0 1.000',
        'b_total{x="2"} 4.0 2.000',
        "# EOF",
    ]
