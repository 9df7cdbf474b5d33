"""Every IM dashboard of one build, named for its service.

The per-dashboard modules each give a builder; `Naming` then makes one build's dashboards
its service's own (uid prefix, title suffix, tags the link menu follows), so several
services import side by side.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import attr
from grafanalib.core import Dashboard

from ..catalog import Catalog
from ..errors import ImanalyticsError
from .baselines import baselines
from .builders import slug, uid
from .layers import api, connection, queue, runtime
from .messaging import messaging
from .overview import overview
from .queries import Scope
from .thresholds import RuleFiles, read_rule_files

Builder = Callable[[Scope, RuleFiles], Dashboard | None]

# In the order of the link menu: the overview first, then down the layers.
BUILDERS: tuple[Builder, ...] = (overview, messaging, connection, queue, api, runtime, baselines)


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
            uid_prefix = f"{slug(name)}-" if name else f"{digest}-" if selectors else ""
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
    boards = (build(scope, rules) for build in BUILDERS)
    named = (naming.apply(board) for board in boards if board is not None)
    return {f"{board.uid}.json": board for board in named}
