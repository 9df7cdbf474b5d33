"""Inventory: catalog metrics found on a real server, under mapped names, with cardinality."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest

from imanalytics.catalog import load_catalog
from imanalytics.cli import main
from imanalytics.inventory import inventory
from imanalytics.samples import Series
from imanalytics.sandbox import PrometheusSandbox
from imanalytics.source import PromSource

pytestmark = pytest.mark.prometheus

T0 = 1_700_000_000_000
START, END = T0 / 1000, T0 / 1000 + 600

MAPPING = """\
selectors: ['job="im-server"']
labels:
  tenant: app_id
  instance: pod
metrics:
  messages_sent:
    name: msg_publish_total
    labels: {user_type: client_kind}
"""


def _crafted() -> list[Series]:
    t = T0 + 15_000 * np.arange(20, dtype=np.int64)
    one = np.ones(len(t))

    def s(**labels):
        return Series({"job": "im-server", "pod": "p-0", **labels}, t, one)

    out = [s(__name__="msg_publish_total", app_id=f"app-{i}", client_kind=kind)
           for i in range(150) for kind in ("user", "bot")]
    out.append(s(__name__="im_connections_count", user_id="u-1"))
    out.append(s(__name__="im_active_users_gauge"))  # lacks its tenant label (app_id)
    out.append(s(__name__="im_session_active"))  # a near miss of im_sessions_active
    out.append(Series({"__name__": "im_connections_count", "job": "other", "pod": "x"}, t, one))
    return out


@pytest.fixture(scope="module")
def crafted():
    with PrometheusSandbox(_crafted()) as sandbox:
        yield sandbox


@pytest.fixture
def mapped(tmp_path):
    path = tmp_path / "mapping.yaml"
    path.write_text(MAPPING)
    return path


def test_default_catalog_on_the_simulated_fleet(prom, workload):
    found = inventory(PromSource(prom.url), start=workload.start, end=workload.end)
    per_name = Counter(s.name for s in workload.series)
    assert found.metrics["present"].all() and found.missing == []
    assert dict(zip(found.metrics["series"], found.metrics["count"], strict=True)) == per_name
    assert (found.metrics["missing_labels"] == "").all()
    assert (found.metrics["unexpected_labels"] == "").all()
    values: dict[tuple[str, str], set] = defaultdict(set)
    family = {name: spec for spec in _catalog() for name in spec.series_names()}
    for s in workload.series:
        for label, value in s.labels.items():
            if label != "__name__":
                values[(family[s.name].key, label)].add(value)
    got = {(r.key, r.label): r.values for r in found.labels.itertuples()}
    assert got == {k: len(v) for k, v in values.items()}
    assert not found.labels["high_cardinality"].any()


def _catalog():
    return load_catalog(None)


def test_a_mapped_catalog_is_checked_under_the_service_names(crafted, mapped):
    found = inventory(PromSource(crafted.url), load_catalog(mapped), START, END)
    rows = found.metrics.set_index("series")
    sent = rows.loc["msg_publish_total"]
    assert sent["key"] == "messages_sent" and sent["present"] and sent["count"] == 300
    assert sent["labels"] == "app_id,client_kind,job,pod" and sent["missing_labels"] == ""
    assert rows.loc["im_connections_count", "count"] == 1  # the job="other" series is excluded
    assert rows.loc["im_connections_count", "unexpected_labels"] == "user_id"
    assert rows.loc["im_active_users_gauge", "missing_labels"] == "app_id"
    assert not rows.loc["im_sessions_active", "present"]
    assert "im_session_active" in rows.loc["im_sessions_active", "candidates"].split(",")
    assert "im_messages_sent_total" not in rows.index


def test_high_cardinality_labels_are_flagged(crafted, mapped):
    found = inventory(PromSource(crafted.url), load_catalog(mapped), START, END,
                      max_label_values=100)
    flagged = {(r.metric, r.label): r.why for r in found.high_cardinality.itertuples()}
    assert flagged == {
        ("msg_publish_total", "app_id"): "more than 100 values",
        ("im_connections_count", "user_id"): "listed in catalog.high_cardinality",
    }
    assert found.labels.set_index(["metric", "label"]).loc[
        ("msg_publish_total", "app_id"), "values"] == 150
    relaxed = inventory(PromSource(crafted.url), load_catalog(mapped), START, END,
                        max_label_values=150)
    assert len(relaxed.high_cardinality) == 1


def test_cli_prints_the_tables(crafted, mapped, capsys):
    code = main(["inventory", "--url", crafted.url, "--catalog", str(mapped), "--start",
                 str(START), "--end", str(END), "--max-label-values", "100"])
    out = capsys.readouterr().out
    assert code == 0
    assert "catalog series found: 3 of 32" in out
    assert "msg_publish_total" in out and "150!" in out
    assert "msg_publish_total app_id: 150 values (more than 100 values)" in out


def test_cli_url_from_the_environment_or_a_clear_error(crafted, monkeypatch, capsys):
    monkeypatch.setenv("PROMETHEUS_URL", crafted.url)
    assert main(["inventory", "--start", str(START), "--end", str(END)]) == 0
    assert "catalog series found: 2 of 32" in capsys.readouterr().out
    monkeypatch.delenv("PROMETHEUS_URL")
    assert main(["inventory"]) == 1
    assert "no Prometheus URL: pass --url or set PROMETHEUS_URL" in capsys.readouterr().err
