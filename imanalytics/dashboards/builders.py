"""The dashboard frame every IM dashboard shares, the set of dashboards, and their JSON.

A dashboard gets the datasource/job/instance/tenant variables, a link menu to every
dashboard tagged ``imanalytics``, a uid derived from its title and a computed layout.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from grafanalib._gen import DashboardEncoder
from grafanalib.core import GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR, Dashboard, DashboardLink, Time

from ..catalog import Catalog
from .layout import Section, layout
from .queries import Scope
from .schema import SCHEMA_VERSION, current
from .thresholds import RuleFiles, read_rule_files
from .variables import templating

TAG = "imanalytics"
MAX_UID = 40


def dashboard(title: str, description: str, sections: Iterable[Section], catalog: Catalog,
              tags: Iterable[str] = ()) -> Dashboard:
    """A complete dashboard: variables, links, uid, laid-out panels with stable ids."""
    return Dashboard(
        title=title, description=description, uid=uid(title), tags=[TAG, *tags],
        panels=layout(sections), templating=templating(catalog),
        links=[DashboardLink(title="IM dashboards", type="dashboards", tags=[TAG],
                             asDropdown=True, includeVars=True, keepTime=True)],
        schemaVersion=SCHEMA_VERSION, timezone="utc", refresh="1m",
        time=Time("now-6h", "now"), graphTooltip=GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR,
        editable=False,  # generated: edits belong in the code, not the UI
    ).auto_panel_ids()


def uid(title: str) -> str:
    """A stable uid from the title: its slug, shortened with a hash past 40 characters."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    if len(slug) <= MAX_UID:
        return slug
    digest = hashlib.sha256(title.encode()).hexdigest()[:8]
    return f"{slug[: MAX_UID - 9].rstrip('-')}-{digest}"


def to_json(board: Dashboard) -> str:
    """Deterministic JSON text: sorted keys, two-space indent, trailing newline."""
    return json.dumps(to_dict(board), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def to_dict(board: Dashboard) -> dict:
    """The dashboard as current Grafana saves it (see `schema`)."""
    return current(json.loads(json.dumps(board.to_json_data(), cls=DashboardEncoder)))


Builder = Callable[[Scope, RuleFiles], Dashboard | None]


def builders() -> list[Builder]:
    from .baselines import baselines
    from .layers import api, connection, queue, runtime
    from .messaging import messaging
    from .overview import overview

    return [overview, messaging, connection, queue, api, runtime, baselines]


def build_dashboards(catalog: Catalog | None = None,
                     rules_dir: str | Path | None = None) -> dict[str, Dashboard]:
    """Every IM dashboard by file name, from the catalog and the rule files in `rules_dir`.

    A layer dashboard is left out when the catalog has no metric in its layer.
    """
    rules = read_rule_files(rules_dir)
    scope = Scope.of(catalog, rules.records)
    boards = (build(scope, rules) for build in builders())
    return {f"{board.uid}.json": board for board in boards if board is not None}
