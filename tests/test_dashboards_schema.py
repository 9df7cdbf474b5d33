"""Every generated dashboard type-checks against Grafana's own published dashboard types
(npm ``@grafana/schema``, installed once into a cache folder), and carries no nulls or
legacy fields, so a dashboard saved back from Grafana 11/12 matches the generator."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from grafana_types import typecheck, types_dir

from imanalytics.catalog import Catalog, default_catalog
from imanalytics.cli import main
from imanalytics.dashboards import build_dashboards, to_dict
from imanalytics.dashboards.lint import panels as all_panels
from imanalytics.dashboards.provisioning import DASHBOARDS_PATH

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
    # Also a named build of a mapped catalog.
    data = default_catalog().to_dict()
    data.update(name="chat", selectors=['env="prod"'], labels={"tenant": "app_id"})
    named = build_dashboards(Catalog.from_dict(data), uid_prefix="chat-eu-", title_suffix=" EU")
    every = {**boards, **{name: to_dict(b) for name, b in named.items()}}
    assert len(every) == 14
    found = typecheck(every, grafana_types, tmp_path)
    assert found == {name: [] for name in every}


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


# --- many services, provisioning -------------------------------------------------------


def test_two_prefixed_builds_import_side_by_side():
    eu = build_dashboards(None, ROOT / "rules", uid_prefix="chat-eu-", title_suffix=" (EU)")
    us = build_dashboards(None, ROOT / "rules", uid_prefix="chat-us-", title_suffix=" (US)")
    eu_uids, us_uids = {b.uid for b in eu.values()}, {b.uid for b in us.values()}
    assert len(eu_uids) == len(us_uids) == 7 and not eu_uids & us_uids
    overview = to_dict(eu["chat-eu-im-overview.json"])
    assert overview["title"] == "IM overview (EU)" and "uid-prefix:chat-eu" in overview["tags"]
    # The link menu lists this build's dashboards only.
    assert overview["links"][0]["tags"] == ["imanalytics", "uid-prefix:chat-eu"]


def test_the_catalog_name_and_selectors_name_the_dashboards():
    data = default_catalog().to_dict()
    data.update(name="chat", selectors=['env="prod"'])
    built = {n: to_dict(b) for n, b in build_dashboards(Catalog.from_dict(data)).items()}
    board = built["chat-im-overview.json"]
    assert board["uid"] == "chat-im-overview" and board["title"] == "IM overview · chat"
    assert {"service:chat", "env=prod"} <= set(board["tags"])
    assert set(board["links"][0]["tags"]) == {"imanalytics", "service:chat", "uid-prefix:chat",
                                              "env=prod"}
    # Unnamed mappings that differ in their selectors still get different uids.
    data.pop("name")
    other = dict(data, selectors=['env="staging"'])
    first = {b.uid for b in build_dashboards(Catalog.from_dict(data)).values()}
    second = {b.uid for b in build_dashboards(Catalog.from_dict(other)).values()}
    assert not first & second


def test_a_bad_uid_prefix_is_refused(tmp_path, capsys):
    code = main(["build-dashboards", "--out", str(tmp_path), "--uid-prefix", "a/b"])
    err = capsys.readouterr().err
    assert code == 1 and "--uid-prefix 'a/b'" in err and "Traceback" not in err


def test_provisioning_points_grafana_at_the_dashboards(tmp_path):
    assert main(["build-dashboards", "--out", str(tmp_path), "--rules", str(ROOT / "rules")]) == 0
    provider = yaml.safe_load((tmp_path / "provisioning/dashboards/imanalytics.yaml").read_text())
    [entry] = provider["providers"]
    assert entry["type"] == "file" and entry["options"]["path"] == DASHBOARDS_PATH
    sources = yaml.safe_load((tmp_path / "provisioning/datasources/imanalytics.yaml").read_text())
    [source] = sources["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "${PROMETHEUS_URL}"
    board = json.loads((tmp_path / "im-overview.json").read_text())
    picker = board["templating"]["list"][0]
    assert picker["type"] == "datasource" and picker["current"]["value"] == source["uid"]


def test_a_bad_service_name_names_the_field():
    with pytest.raises(ValueError, match=r"name: must be a short service name"):
        Catalog.from_dict({"name": "chat/eu"})
