"""The Grafana dashboards and their provisioning YAML as generated artifacts, written or
checked fresh like the rule files (`rules.artifacts`)."""

from __future__ import annotations

import json
from pathlib import Path

from ..catalog import Catalog, default_catalog
from ..rules.artifacts import Artifact
from .build import build_dashboards
from .builders import to_json
from .lint import check as lint
from .provisioning import provisioning


def dashboard_artifacts(out: str | Path, catalog: Catalog | None = None,
                        rules_dir: str | Path | None = "rules", *,
                        uid_prefix: str | None = None,
                        title_suffix: str | None = None) -> list[Artifact]:
    """The Grafana dashboards as JSON files and their provisioning YAML; a dashboard that
    fails lint raises instead.

    `rules_dir` supplies the tuned alert thresholds and baseline bands when it has them.
    """
    catalog = catalog or default_catalog()
    boards = build_dashboards(catalog, rules_dir, uid_prefix=uid_prefix,
                              title_suffix=title_suffix)
    texts = {name: to_json(board) for name, board in boards.items()}
    lint({name: json.loads(text) for name, text in texts.items()}, catalog=catalog)
    texts.update(provisioning())
    return [Artifact(Path(out) / name, text) for name, text in texts.items()]
