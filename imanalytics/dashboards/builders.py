"""The dashboard frame every IM dashboard shares, the set of dashboards, and their JSON.

A dashboard gets the datasource/job/instance/tenant variables, a link menu to every
dashboard tagged ``imanalytics``, a uid derived from its title and a computed layout.
`Naming` then makes one build's dashboards its service's own (uid prefix, title
suffix, tags the link menu follows), so several services import side by side.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import attr
from grafanalib._gen import DashboardEncoder
from grafanalib.core import GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR, Dashboard, DashboardLink, Time

from ..catalog import Catalog
from ..errors import ImanalyticsError
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
    slug = _slug(title)
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


@dataclass(frozen=True)
class Naming:
    """What sets one build's dashboards apart from another service's or environment's."""

    uid_prefix: str = ""
    title_suffix: str = ""
    tags: tuple[str, ...] = ()

    @classmethod
    def of(cls, catalog: Catalog, uid_prefix: str | None = None,
           title_suffix: str | None = None) -> Naming:
        """From the catalog's name and selectors unless `uid_prefix`/`title_suffix` say.

        Unnamed catalogs with selectors get a prefix from a hash of them, so two
        mappings of one service never share uids.
        """
        name, selectors = catalog.name, catalog.selectors
        if uid_prefix is None:
            digest = hashlib.sha256("\n".join(selectors).encode()).hexdigest()[:6]
            uid_prefix = f"{_slug(name)}-" if name else f"{digest}-" if selectors else ""
        if not re.fullmatch(r"[A-Za-z0-9_-]{0,24}", uid_prefix):
            raise ImanalyticsError(f"--uid-prefix {uid_prefix!r}: use at most 24 letters, "
                                   "digits, - and _ (Grafana uids allow no other)")
        if title_suffix is None:
            title_suffix = f" · {name}" if name else ""
        tags = [f"service:{name}"] if name else []
        tags += [f"uid-prefix:{uid_prefix.strip('-_')}"] if uid_prefix.strip("-_") else []
        tags += [s.replace('"', "") for s in selectors]
        return cls(uid_prefix, title_suffix, tuple(dict.fromkeys(tags)))

    def apply(self, board: Dashboard) -> Dashboard:
        """`board` renamed, tagged, and linking to this build's dashboards only."""
        tags = [*board.tags, *self.tags]
        links = [attr.evolve(link, tags=[*link.tags, *self.tags]) for link in board.links]
        return attr.evolve(board, uid=uid(self.uid_prefix + board.uid),
                           title=board.title + self.title_suffix, tags=tags, links=links)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


Builder = Callable[[Scope, RuleFiles], Dashboard | None]


def builders() -> list[Builder]:
    from .baselines import baselines
    from .layers import api, connection, queue, runtime
    from .messaging import messaging
    from .overview import overview

    return [overview, messaging, connection, queue, api, runtime, baselines]


def build_dashboards(catalog: Catalog | None = None, rules_dir: str | Path | None = None, *,
                     uid_prefix: str | None = None,
                     title_suffix: str | None = None) -> dict[str, Dashboard]:
    """Every IM dashboard by file name, from the catalog and the rule files in `rules_dir`.

    A layer dashboard is left out when the catalog has no metric in its layer. Uids,
    titles, tags and links follow `Naming.of` (the catalog's name and selectors).
    """
    rules = read_rule_files(rules_dir)
    scope = Scope.of(catalog, rules.records)
    naming = Naming.of(scope.catalog, uid_prefix, title_suffix)
    boards = (build(scope, rules) for build in builders())
    named = (naming.apply(board) for board in boards if board is not None)
    return {f"{board.uid}.json": board for board in named}
