"""Wide frames by label: ``PromSource.range(..., columns="labels")`` gives a column
MultiIndex with one level per label, the same values as the label-string columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from imanalytics.frames import by_labels
from imanalytics.source import PromSource


def test_levels_are_the_label_names_and_missing_labels_are_empty():
    index = pd.date_range("2026-01-01", periods=2, freq="1min", tz="UTC", name="timestamp")
    frame = pd.DataFrame({'{instance="a",tenant="t1"}': [1.0, 2.0], '{instance="b"}': [3.0, 4.0]},
                         index=index)
    out = by_labels(frame)
    assert out.columns.names == ["instance", "tenant"]
    assert list(out.columns) == [("a", "t1"), ("b", "")]
    np.testing.assert_array_equal(out.to_numpy(), frame.to_numpy())
    assert out.xs("b", level="instance", axis=1).iloc[:, 0].tolist() == [3.0, 4.0]


@pytest.mark.prometheus
def test_range_by_labels_on_a_real_server(prom, workload):
    expr = "sum by (job, tenant) (rate(im_messages_sent_total[5m]))"
    start, end = workload.end - pd.Timedelta("1h"), workload.end
    with PromSource(prom.url) as source:
        plain = source.range(expr, start, end)
        labelled = source.range(expr, start, end, columns="labels")
        with pytest.raises(ValueError, match="columns must be"):
            source.range(expr, start, end, columns="wide")
    assert labelled.columns.names == ["job", "tenant"]
    tenants = sorted(labelled.columns.get_level_values("tenant"))
    assert tenants == sorted({s.labels["tenant"] for s in workload.series
                              if "tenant" in s.labels})
    for column in plain.columns:
        tenant = column.split('tenant="')[1].split('"')[0]
        pd.testing.assert_series_equal(labelled.xs(tenant, level="tenant", axis=1).iloc[:, 0],
                                       plain[column], check_names=False)
