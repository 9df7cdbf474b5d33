"""A dashboard panel previewed in one call: its queries run on a real Prometheus as
Grafana would send them, one line per series named by the panel's legend, and an axis in
a human unit."""

from __future__ import annotations

import pandas as pd
import pytest

from imanalytics.dashboards import build_dashboards, to_dict
from imanalytics.dashboards.lint import panels
from imanalytics.dashboards.preview import PreviewError, legend_name, panel_queries, preview_panel
from imanalytics.plots import UNIT_AXES
from imanalytics.source import PromSource

pytestmark = pytest.mark.prometheus


@pytest.fixture(scope="module")
def boards():
    return {name: to_dict(board) for name, board in build_dashboards().items()}


@pytest.fixture(scope="module")
def source(prom):
    with PromSource(prom.url) as src:
        yield src


def _window(workload):
    return workload.end - pd.Timedelta("6h"), workload.end


def test_every_overview_panel_previews_with_a_human_axis(boards, source, workload):
    board = boards["im-overview.json"]
    titles = [p["title"] for p in panels(board) if p.get("targets")]
    for title in titles:
        fig = preview_panel(source, board, title, *_window(workload))
        assert fig.data, title
        assert fig.layout.yaxis.title.text not in UNIT_AXES, title  # never a Grafana id
        assert all("{{" not in trace.name for trace in fig.data), title


def test_lines_are_the_panel_queries_named_by_legend(boards, source, workload):
    board = boards["im-messaging-pipeline.json"]
    fig = preview_panel(source, board, "Messages sent by tenant", *_window(workload))
    tenants = sorted({s.labels["tenant"] for s in workload.series if "tenant" in s.labels})
    assert sorted(trace.name for trace in fig.data) == tenants
    (expr, legend), = panel_queries(board, "Messages sent by tenant")
    assert legend == "{{tenant}}" and "$" not in expr
    direct = source.range(expr, *_window(workload), step="1m")
    first = next(t for t in fig.data if t.name == legend_name(legend, direct.columns[0]))
    assert list(first.y) == pytest.approx(direct.iloc[:, 0].tolist(), nan_ok=True)
    assert fig.layout.yaxis.ticksuffix == "/s"


def test_recorded_series_are_inlined_for_a_server_without_rules(boards):
    (expr, _), = panel_queries(boards["im-overview.json"], "Client connections")
    assert ":" not in expr.split("{")[0] and "im_connections_count" in expr


def test_a_picker_value_on_a_recorded_series_is_refused(boards):
    with pytest.raises(PreviewError, match="Client connections.*inline_rules=False"):
        panel_queries(boards["im-overview.json"], "Client connections",
                      values={"instance": "im-0:9100"})
    (expr, _), = panel_queries(boards["im-overview.json"], "Client connections",
                               values={"instance": "im-0:9100"}, inline_rules=False)
    assert 'instance=~"im-0:9100"' in expr


def test_an_unknown_panel_is_named_with_the_panels_there_are(boards):
    with pytest.raises(PreviewError, match="no panel 'Nope'.*'Client connections'"):
        panel_queries(boards["im-overview.json"], "Nope")
