"""The dashboard frame every IM dashboard shares, and its JSON.

A dashboard gets the datasource/job/instance/tenant variables, a link menu to every
dashboard tagged ``imanalytics``, a uid derived from its title and a computed layout.
The per-dashboard modules build on it; `build` puts them together.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable

from grafanalib._gen import DashboardEncoder
from grafanalib.core import GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR, Dashboard, DashboardLink, Time

from ..catalog import Catalog
from .layout import Section, layout
from .schema import SCHEMA_VERSION, current
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
    short = slug(title)
    if len(short) <= MAX_UID:
        return short
    digest = hashlib.sha256(title.encode()).hexdigest()[:8]
    return f"{short[: MAX_UID - 9].rstrip('-')}-{digest}"


def to_json(board: Dashboard) -> str:
    """Deterministic JSON text: sorted keys, two-space indent, trailing newline."""
    return json.dumps(to_dict(board), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def to_dict(board: Dashboard) -> dict:
    """The dashboard as current Grafana saves it (see `schema`)."""
    return current(json.loads(json.dumps(board.to_json_data(), cls=DashboardEncoder)))


def slug(text: str) -> str:
    """Lower-case letters and digits, every other run of characters one ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
