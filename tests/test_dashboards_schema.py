"""Every generated dashboard type-checks against Grafana's own published dashboard types
(npm ``@grafana/schema``, installed once into a cache folder), and carries no nulls or
legacy fields, so a dashboard saved back from Grafana 11/12 matches the generator."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from grafana_types import typecheck, types_dir

from imanalytics.dashboards import build_dashboards, to_dict
from imanalytics.dashboards.lint import panels as all_panels

ROOT = Path(__file__).resolve().parent.parent
LEGACY = {"rows", "style", "sharedCrosshair", "hideControls", "span", "height", "minSpan",
          "error", "cacheTimeout", "tagsQuery", "useTags", "time_options"}


@pytest.fixture(scope="session")
def grafana_types() -> Path:
    return types_dir()


@pytest.fixture(scope="module")
def boards() -> dict[str, dict]:
    return {name: to_dict(b) for name, b in build_dashboards(None, ROOT / "rules").items()}


def _keys_and_nulls(value, path=""):
    """Every (path, key) and every null below `value`, except a threshold base step's."""
    if isinstance(value, dict):
        for key, item in value.items():
            if item is None and not (key == "value" and set(value) == {"color", "value"}):
                yield f"{path}.{key}", "null"
            yield f"{path}.{key}", key
            yield from _keys_and_nulls(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _keys_and_nulls(item, f"{path}[{i}]")


def test_every_dashboard_type_checks_against_grafana_schema(boards, grafana_types, tmp_path):
    found = typecheck(boards, grafana_types, tmp_path)
    assert found == {name: [] for name in boards}


def test_the_type_check_catches_what_grafana_would_not_take(boards, grafana_types, tmp_path):
    board = copy.deepcopy(boards["im-overview.json"])
    panel = next(p for p in all_panels(board) if p["type"] == "timeseries")
    del panel["fieldConfig"]["overrides"]
    board["templating"]["list"][1]["useTags"] = False  # a legacy field
    board["links"][0]["type"] = "dashbords"  # not a DashboardLinkType value
    [problems] = typecheck({"bad": board}, grafana_types, tmp_path).values()
    text = "\n".join(problems)
    assert len(problems) == 3
    assert "Property 'overrides' is missing" in text and '"useTags"' in text and "dashbords" in text


def test_no_nulls_and_no_legacy_fields(boards):
    for name, board in boards.items():
        found = list(_keys_and_nulls(board))
        assert [path for path, what in found if what == "null"] == [], name
        assert [path for path, key in found if key in LEGACY] == [], name
        for panel in all_panels(board):
            assert set(panel["fieldConfig"]) == {"defaults", "overrides"}, panel["title"]
        for var in board["templating"]["list"][1:]:
            assert var["query"]["query"].startswith("label_values("), var["name"]
