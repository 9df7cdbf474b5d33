"""Grafana dashboards as code, built from the catalog, the SLIs and the recording rules.

``python -m imanalytics build-dashboards`` writes them to ``dashboards/``; `lint` checks
them the way Grafana's dashboard linter does. The panel builders are public, so your own
dashboard module can reuse them::

    from imanalytics import load_catalog
    from imanalytics.dashboards import Scope, Section, dashboard, metric_panels, panels, to_json

    scope = Scope.of(load_catalog("my-catalog.yaml"))
    sent = scope.rate("messages_sent", by=("job", "tenant"))
    board = dashboard(
        "Team chat", "Chat traffic of our tenants.",
        [Section(None, [panels.timeseries(
            "Sent per tenant", "Messages accepted from senders, per second.",
            [panels.query(sent, "{{tenant}}")], "cps")]),
         Section("Delivery", metric_panels(scope, scope.spec("messages_delivered")))],
        scope.catalog)
    open("team-chat.json", "w").write(to_json(board))

Queries filter by the ``job``, ``instance`` and ``tenant`` variables and read recording
rules where one fits; `layout` places panels, so builders only give sizes.
"""

from . import panels
from .build import build_dashboards
from .builders import dashboard, to_dict, to_json, uid
from .catalog_panels import metric_panels, sli_stat, sli_timeseries
from .layout import Section, layout
from .lint import Finding, lint
from .queries import Scope
from .thresholds import RuleFiles, read_rule_files

__all__ = [
    "Finding",
    "RuleFiles",
    "Scope",
    "Section",
    "build_dashboards",
    "dashboard",
    "layout",
    "lint",
    "metric_panels",
    "panels",
    "read_rule_files",
    "sli_stat",
    "sli_timeseries",
    "to_dict",
    "to_json",
    "uid",
]
