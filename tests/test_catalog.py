"""The IM metric catalog: default content, selectors, mapping files and their errors."""

from __future__ import annotations

import argparse
import math
import pickle
import re
import textwrap
import time
from importlib import resources
from pathlib import Path

import pytest
import yaml

from imanalytics.catalog import (
    HIGH_CARDINALITY,
    LAYERS,
    TYPES,
    Catalog,
    CatalogError,
    MetricSpec,
    default_catalog,
    load_catalog,
)
from imanalytics.catalog.loader import from_data, read_packaged
from imanalytics.cli import build_parser, main

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

# What the workload simulator emits; pinned here so a catalog edit cannot drift from it.
# key: (name, type, unit, layer, labels, buckets or quantiles)
EXPECTED = {
    "connections": ("im_connections_count", "gauge", "connections", "connection", (), ()),
    "online_users": ("im_active_users_gauge", "gauge", "users", "connection", ("tenant",), ()),
    "sessions": ("im_sessions_active", "gauge", "sessions", "connection", (), ()),
    "handshake_duration": (
        "im_websocket_handshake_duration_seconds",
        "histogram",
        "seconds",
        "connection",
        (),
        (0.05, 0.1, 0.25, 0.5, 1, 2.5),
    ),
    "connection_closes": (
        "im_connection_closes_total",
        "counter",
        "connections",
        "connection",
        ("reason",),
        (),
    ),
    "messages_sent": (
        "im_messages_sent_total",
        "counter",
        "messages",
        "message",
        ("tenant", "user_type"),
        (),
    ),
    "messages_delivered": (
        "im_messages_delivered_total",
        "counter",
        "messages",
        "message",
        ("tenant",),
        (),
    ),
    "delivery_failures": (
        "im_message_delivery_failures_total",
        "counter",
        "messages",
        "message",
        ("tenant", "reason"),
        (),
    ),
    "processing_duration": (
        "im_message_processing_duration_seconds",
        "histogram",
        "seconds",
        "message",
        (),
        (0.01, 0.05, 0.1, 0.5, 1),
    ),
    "e2e_latency": (
        "im_message_e2e_latency_seconds",
        "histogram",
        "seconds",
        "message",
        (),
        (0.05, 0.1, 0.25, 0.5, 0.8, 1, 2.5, 5),
    ),
    "broadcast_duration": (
        "im_broadcast_duration_seconds",
        "summary",
        "seconds",
        "message",
        ("group_size",),
        (0.5, 0.9, 0.99),
    ),
    "status_sync_duration": (
        "im_status_sync_duration_seconds",
        "summary",
        "seconds",
        "message",
        (),
        (),
    ),
    "mq_pending": ("im_mq_pending_messages", "gauge", "messages", "queue", (), ()),
    "mq_consumer_lag": ("im_mq_consumer_lag_seconds", "gauge", "seconds", "queue", (), ()),
    "api_requests": ("im_api_requests_total", "counter", "requests", "api", ("path", "status"), ()),
    "api_request_duration": (
        "im_api_request_duration_seconds",
        "histogram",
        "seconds",
        "api",
        ("path",),
        (0.05, 0.1, 0.25, 0.5, 1),
    ),
    "goroutines": ("go_goroutines", "gauge", "goroutines", "runtime", (), ()),
    "gc_pause": (
        "go_gc_duration_seconds",
        "summary",
        "seconds",
        "runtime",
        (),
        (0, 0.25, 0.5, 0.75, 1),
    ),
    "heap_alloc": ("go_memstats_heap_alloc_bytes", "gauge", "bytes", "runtime", (), ()),
}

EXAMPLE = """\
selectors: ['job="im-server"', 'env=~"prod|staging"']
labels:
  tenant: app_id
  instance: pod
high_cardinality: [user_id, room_id]
metrics:
  messages_sent:
    name: msg_publish_total
    labels: {user_type: client_kind}
  my_push_failures:
    name: push_failures_total
    type: counter
    unit: messages
    help: Push notifications that failed.
    layer: message
    labels: [tenant, vendor]
  gc_pause: null
"""


def write(tmp_path, text: str, name: str = "my.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def example(tmp_path):
    return load_catalog(write(tmp_path, EXAMPLE))


# ----------------------------------------------------------------------- default content


def test_default_keys_in_declared_order():
    assert list(default_catalog().metrics) == list(EXPECTED)


def test_packaged_default_file_is_the_default_catalog():
    # The file ships inside the package and is the default catalog in mapping-file form,
    # in the order and shape a dump writes.
    packaged = resources.files("imanalytics.catalog").joinpath("default.yaml")
    text = packaged.read_text("utf-8")
    data = yaml.safe_load(text)
    expected = default_catalog().to_dict()
    assert data == expected
    assert list(data) == list(expected) and list(data["metrics"]) == list(EXPECTED)
    for key, entry in data["metrics"].items():
        assert list(entry) == list(expected["metrics"][key])
    # A user's mapping file in the same format loads through the same loader.
    with resources.as_file(packaged) as path:
        assert load_catalog(path) == default_catalog()


@pytest.mark.parametrize("key", list(EXPECTED))
def test_default_metric_content(key):
    name, type_, unit, layer, labels, shape = EXPECTED[key]
    spec = default_catalog()[key]
    assert (spec.name, spec.type, spec.unit, spec.layer, spec.labels) == (
        name,
        type_,
        unit,
        layer,
        labels,
    )
    assert spec.buckets == (shape if type_ == "histogram" else ())
    assert spec.quantiles == (shape if type_ == "summary" else ())
    assert spec.label_map == {}


@pytest.mark.parametrize("spec", list(default_catalog()), ids=lambda s: s.key)
def test_default_metric_is_well_formed(spec):
    assert spec.type in TYPES and spec.layer in LAYERS
    assert METRIC_NAME.fullmatch(spec.name)
    assert spec.name.endswith("_total") == (spec.type == "counter")
    for label in spec.labels:
        assert LABEL_NAME.fullmatch(label) and not label.startswith("__")
    assert list(spec.buckets) == sorted(set(spec.buckets))
    assert all(0 < b < math.inf for b in spec.buckets)
    assert spec.help.endswith(".") and "\n" not in spec.help


def test_default_catalog_settings():
    catalog = default_catalog()
    assert catalog.selectors == ()
    assert catalog.target_labels == ("job", "instance")
    assert catalog.tenant_label == "tenant"
    assert catalog.high_cardinality == HIGH_CARDINALITY
    assert {"user_id", "room_id", "trace_id", "session_id"} <= set(HIGH_CARDINALITY)
    assert catalog.source == "<default>"
    assert load_catalog() == catalog


def test_default_catalog_is_a_fresh_copy():
    first = default_catalog()
    del first.metrics["gc_pause"]
    first.label_map["tenant"] = "app_id"
    first.source, first.name = "edited", "edited"
    again = default_catalog()
    assert "gc_pause" in again and again.label_map == {}
    assert (again.source, again.name) == ("<default>", "")
    assert again is not first and again == load_catalog()


def test_series_names_per_type():
    catalog = default_catalog()
    assert catalog["messages_sent"].series_names() == ("im_messages_sent_total",)
    assert catalog["e2e_latency"].series_names() == (
        "im_message_e2e_latency_seconds_bucket",
        "im_message_e2e_latency_seconds_sum",
        "im_message_e2e_latency_seconds_count",
    )
    assert catalog["broadcast_duration"].series_names() == (
        "im_broadcast_duration_seconds",
        "im_broadcast_duration_seconds_sum",
        "im_broadcast_duration_seconds_count",
    )
    assert catalog["status_sync_duration"].series_names() == (
        "im_status_sync_duration_seconds_sum",
        "im_status_sync_duration_seconds_count",
    )


def test_container_protocol_and_by_layer():
    catalog = default_catalog()
    assert len(catalog) == 19
    assert "mq_pending" in catalog and "im_mq_pending_messages" not in catalog
    assert [s.key for s in catalog][:2] == ["connections", "online_users"]
    assert [s.key for s in catalog.by_layer("queue")] == ["mq_pending", "mq_consumer_lag"]
    assert sum(len(catalog.by_layer(layer)) for layer in LAYERS) == len(catalog)
    with pytest.raises(ValueError, match="connection, message"):
        catalog.by_layer("conection")


def test_unknown_key_lists_known_keys():
    with pytest.raises(KeyError) as info:
        default_catalog()["mesages_sent"]
    message = str(info.value)
    assert "did you mean 'messages_sent'" in message
    assert "connections, online_users" in message and "heap_alloc" in message


def test_frame_has_one_row_per_metric():
    frame = default_catalog().frame()
    assert list(frame.columns) == ["key", "name", "type", "unit", "layer", "labels", "help"]
    assert len(frame) == 19
    row = frame.set_index("key").loc["messages_sent"]
    assert (row["name"], row["labels"]) == ("im_messages_sent_total", "tenant, user_type")


def test_repr_and_str_are_readable():
    catalog = default_catalog()
    assert repr(catalog) == ("Catalog(source='<default>', metrics=19, selectors=(), label_map={})")
    lines = str(catalog).splitlines()
    assert len(lines) == 2 + 19
    assert lines[2].split() == ["connections", "im_connections_count", "gauge", "connection"]
    assert lines[7].split()[-1] == "tenant,user_type"


def test_spec_is_hashable_picklable_and_frozen():
    spec = default_catalog()["messages_sent"]
    assert pickle.loads(pickle.dumps(spec)) == spec
    assert len({spec, default_catalog()["messages_sent"]}) == 1
    with pytest.raises(AttributeError):
        spec.name = "other_total"


# ------------------------------------------------------------------------------ selectors


def test_selector_without_matchers_is_the_bare_name():
    assert default_catalog().selector("goroutines") == "go_goroutines"


def test_selector_with_matcher():
    assert default_catalog().selector("messages_sent", tenant="acme") == (
        'im_messages_sent_total{tenant="acme"}'
    )


def test_selector_escapes_values():
    got = default_catalog().selector("messages_sent", tenant='a"b\\c\nd')
    assert got == 'im_messages_sent_total{tenant="a\\"b\\\\c\\nd"}'


def test_selector_suffix_and_le():
    catalog = default_catalog()
    assert catalog.selector("processing_duration", "_bucket", le="0.1") == (
        'im_message_processing_duration_seconds_bucket{le="0.1"}'
    )
    assert catalog.selector("gc_pause", quantile="1") == 'go_gc_duration_seconds{quantile="1"}'


def test_selector_refuses_series_the_metric_lacks():
    catalog = default_catalog()
    with pytest.raises(ValueError, match="_bucket, .*_sum, .*_count"):
        catalog.selector("processing_duration")
    with pytest.raises(ValueError, match="no series 'im_status_sync_duration_seconds'"):
        catalog.selector("status_sync_duration")


def test_selector_refuses_unknown_label_and_non_string():
    catalog = default_catalog()
    with pytest.raises(ValueError, match="no label 'tenant'"):
        catalog.selector("connections", tenant="acme")
    with pytest.raises(ValueError, match="no label 'le'"):
        catalog.selector("processing_duration", "_sum", le="1")
    with pytest.raises(TypeError, match="tenant= must be a string"):
        catalog.selector("messages_sent", tenant=1)


def test_selector_maps_labels_and_puts_selectors_first(example):
    got = example.selector("messages_sent", user_type="bot", tenant="acme", instance="p-1")
    assert got == (
        'msg_publish_total{job="im-server",env=~"prod|staging",'
        'app_id="acme",client_kind="bot",pod="p-1"}'
    )


def test_selector_sorts_by_label_name(tmp_path):
    # By name, "tenant" < "tenant0"; by rendered text ('=' > '0') it would be the reverse.
    catalog = load_catalog(write(tmp_path, "labels: {user_type: tenant0}\n"))
    assert catalog.selector("messages_sent", user_type="b", tenant="a") == (
        'im_messages_sent_total{tenant="a",tenant0="b"}'
    )


def test_selector_selectors_only(example):
    assert example.selector("heap_alloc") == (
        'go_memstats_heap_alloc_bytes{job="im-server",env=~"prod|staging"}'
    )


def test_selectors_are_normalised(tmp_path):
    path = write(
        tmp_path,
        """\
        selectors: ['  job = "im"  ', "env!~'dev.*'"]
    """,
    )
    assert load_catalog(path).selectors == ('job="im"', "env!~'dev.*'")


# -------------------------------------------------------------------------- mapping files


def test_mapping_file_applies_over_default(example, tmp_path):
    assert example.source == str(tmp_path / "my.yaml")
    assert list(example.metrics)[-1] == "my_push_failures"
    assert "gc_pause" not in example and len(example) == 19
    assert example.label("tenant") == "app_id" and example.tenant_label == "app_id"
    assert example.target_labels == ("job", "pod")
    assert example.high_cardinality == ("user_id", "room_id")


def test_mapping_file_overrides_and_renames(example):
    sent = example["messages_sent"]
    assert sent.name == "msg_publish_total"
    assert sent.type == "counter" and sent.labels == ("tenant", "user_type")
    assert sent.label_map == {"instance": "pod", "tenant": "app_id", "user_type": "client_kind"}
    assert sent.mapped_labels() == ("app_id", "client_kind")
    assert example["connection_closes"].mapped_labels() == ("reason",)
    assert example["connection_closes"].label("instance") == "pod"


def test_mapping_file_new_metric(example):
    push = example["my_push_failures"]
    assert (push.name, push.type, push.unit, push.layer) == (
        "push_failures_total",
        "counter",
        "messages",
        "message",
    )
    assert push.labels == ("tenant", "vendor")
    assert push.mapped_labels() == ("app_id", "vendor")
    assert example.by_layer("message")[-1] is push


def test_new_metric_labels_in_mapping_form(tmp_path):
    path = write(
        tmp_path,
        """\
        metrics:
          push_latency:
            name: push_latency_seconds
            type: histogram
            unit: seconds
            help: Push delivery latency.
            layer: message
            labels: {tenant: tenant, vendor: push_vendor}
            buckets: [0.1, 1, 2.5]
    """,
    )
    spec = load_catalog(path)["push_latency"]
    assert spec.labels == ("tenant", "vendor")
    assert spec.mapped_labels() == ("tenant", "push_vendor")
    assert spec.buckets == (0.1, 1.0, 2.5)


def test_exponents_read_as_numbers(tmp_path):
    # YAML 1.1 (PyYAML's default) would read these as text.
    path = write(tmp_path, "metrics: {e2e_latency: {buckets: [1e-3, 2.5E-2, 1.0e1, 5e+1]}}\n")
    assert load_catalog(path)["e2e_latency"].buckets == (0.001, 0.025, 10.0, 50.0)


def test_per_metric_rename_wins_over_global(tmp_path):
    path = write(
        tmp_path,
        """\
        labels: {tenant: app_id}
        metrics:
          online_users: {label_map: {tenant: tenant}}
    """,
    )
    catalog = load_catalog(path)
    assert catalog["online_users"].mapped_labels() == ("tenant",)
    assert catalog["messages_sent"].mapped_labels() == ("app_id", "user_type")


def test_changing_type_drops_the_old_shape(tmp_path):
    path = write(
        tmp_path,
        """\
        metrics:
          processing_duration: {type: summary, quantiles: [0.5, 0.99]}
          mq_pending: {type: histogram, buckets: [10, 100]}
    """,
    )
    catalog = load_catalog(path)
    assert catalog["processing_duration"].buckets == ()
    assert catalog["processing_duration"].quantiles == (0.5, 0.99)
    assert catalog["mq_pending"].series_names()[0] == "im_mq_pending_messages_bucket"


def test_counter_may_become_gauge_keeping_its_name(tmp_path):
    catalog = load_catalog(write(tmp_path, "metrics: {messages_sent: {type: gauge}}\n"))
    assert catalog["messages_sent"].type == "gauge"
    assert catalog["messages_sent"].name == "im_messages_sent_total"


def test_empty_file_is_the_default(tmp_path):
    catalog = load_catalog(write(tmp_path, "# nothing to change\n"))
    assert catalog == default_catalog() and catalog.source.endswith("my.yaml")


@pytest.mark.parametrize("make", [default_catalog, None], ids=["default", "example"])
def test_to_dict_round_trips_through_load(make, tmp_path):
    catalog = make() if make else load_catalog(write(tmp_path, EXAMPLE))
    data = catalog.to_dict()
    path = write(tmp_path, yaml.safe_dump(data, sort_keys=False), "dump.yaml")
    again = load_catalog(path)
    assert again == catalog
    assert list(again.metrics) == list(catalog.metrics)
    assert again.to_dict() == data


def _dump(capsys, *args: str) -> str:
    assert main(["catalog", "--dump", *args]) == 0
    return capsys.readouterr().out


def test_dump_loads_back_as_the_same_catalog(tmp_path, capsys):
    dumped = write(tmp_path, _dump(capsys), "dump.yaml")
    assert load_catalog(dumped) == default_catalog()
    mapping = write(tmp_path, EXAMPLE)
    mapped = write(tmp_path, _dump(capsys, "--mapping", str(mapping)), "mapped.yaml")
    again = load_catalog(mapped)
    assert again == load_catalog(mapping) and again != default_catalog()
    assert list(again.metrics) == list(load_catalog(mapping).metrics)


def test_packaged_default_gets_the_mapping_file_validation():
    data, source = read_packaged("imanalytics.catalog", "default.yaml")
    assert source.endswith("default.yaml") and from_data(data, source, base=()) == load_catalog()
    data["metrics"]["connections"]["type"] = "gauges"
    with pytest.raises(CatalogError, match=r"default.yaml: metrics.connections.type: must be one"):
        from_data(data, source, base=())
    del data["metrics"]["connections"]["type"]
    with pytest.raises(CatalogError, match=r"metrics.connections.type: required for a new metric"):
        from_data(data, source, base=())


def test_packaged_default_is_what_dump_prints(capsys):
    text = resources.files("imanalytics.catalog").joinpath("default.yaml").read_text("utf-8")
    body = "".join(line for line in text.splitlines(True) if not line.startswith("#"))
    assert body == default_catalog().to_yaml()
    first, second, dumped = _dump(capsys).split("\n", 2)
    assert first.startswith("# ") and second.startswith("# ") and dumped == body


def test_catalog_command_prints_a_table_and_names_a_bad_file(tmp_path, capsys):
    assert main(["catalog", "--catalog", str(write(tmp_path, EXAMPLE))]) == 0
    out = capsys.readouterr().out
    assert "push_failures_total" in out and "gc_pause" not in out
    bad = write(tmp_path, "metrics: {gc_pause: {type: gauge2}}\n", "bad.yaml")
    assert main(["catalog", "--dump", "--mapping", str(bad)]) == 1
    run = capsys.readouterr()
    assert run.out == "" and run.err.count("\n") == 1
    assert "bad.yaml: metrics.gc_pause.type: must be one of" in run.err


def test_readme_documents_the_catalog_command():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme[readme.index("## Pointing it at your own service"):]
    section = section[:section.index("\n## ")]
    assert "python -m imanalytics catalog --dump > my-im.yaml" in section
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    options = [o for a in sub.choices["catalog"]._actions for o in a.option_strings]
    assert {"--dump", "--mapping", "--catalog"} <= set(options)
    assert all(option in section for option in options if option not in ("-h", "--help"))


def test_to_dict_records_removals_and_renames(example):
    data = example.to_dict()
    assert data["metrics"]["gc_pause"] is None
    assert data["metrics"]["messages_sent"]["label_map"] == {"user_type": "client_kind"}
    assert data["labels"] == {"instance": "pod", "tenant": "app_id"}
    assert "label_map" not in data["metrics"]["online_users"]


def test_equality_sees_differences(example):
    assert example != default_catalog()
    assert Catalog.from_dict({"metrics": {"sessions": {"help": "Other."}}}) != default_catalog()


# ------------------------------------------------------------------------ validation errors

# (file text, location the message must name, problem text it must contain)
INVALID = {
    "top-level-list": ("- a\n- b\n", "top level", "must be a mapping"),
    "unknown-top-key": ("metric: {}\n", "metric", "did you mean 'metrics'"),
    "metrics-not-mapping": ("metrics: [a]\n", "metrics", "must be a mapping"),
    "selectors-not-list": ('selectors: job="x"\n', "selectors", "must be a list"),
    "bad-selector": ("selectors: ['job=im']\n", "selectors[0]", "not a PromQL label matcher"),
    "bad-selector-op": ("selectors: ['job==\"a\"']\n", "selectors[0]", "not a PromQL"),
    "selector-reserved-label": ("selectors: ['__name__=\"a\"']\n", "selectors[0]", "reserved"),
    "labels-not-mapping": ("labels: [tenant]\n", "labels", "must be a mapping"),
    "label-illegal": ("labels: {tenant: app-id}\n", "labels.tenant", "not a legal label name"),
    "label-reserved": ("labels: {tenant: __tenant}\n", "labels.tenant", "reserved"),
    "label-twice": (
        "labels: {tenant: app, user_type: app}\n",
        "labels.user_type",
        "already the service name of 'tenant'",
    ),
    "label-collision": (
        "labels: {tenant: instance}\n",
        "metrics.online_users.labels",
        "both map to 'instance'",
    ),
    "high-card-not-list": ("high_cardinality: user_id\n", "high_cardinality", "must be a list"),
    "high-card-illegal": (
        "high_cardinality: [user-id]\n",
        "high_cardinality[0]",
        "not a legal label name",
    ),
    "entry-not-mapping": ("metrics: {sessions: 3}\n", "metrics.sessions", "or null to remove"),
    "unknown-field": (
        "metrics: {sessions: {buckts: [1]}}\n",
        "metrics.sessions.buckts",
        "did you mean 'buckets'",
    ),
    "bad-type": (
        "metrics: {messages_sent: {type: countr}}\n",
        "metrics.messages_sent.type",
        "must be one of counter, gauge, histogram, summary (got 'countr')",
    ),
    "bad-layer": (
        "metrics: {sessions: {layer: db}}\n",
        "metrics.sessions.layer",
        "must be one of connection",
    ),
    "name-not-text": ("metrics: {sessions: {name: 3}}\n", "metrics.sessions.name", "must be text"),
    "name-illegal": (
        "metrics: {sessions: {name: im-sessions}}\n",
        "metrics.sessions.name",
        "not a legal metric name",
    ),
    "name-reserved": (
        "metrics: {sessions: {name: __sessions}}\n",
        "metrics.sessions.name",
        "not a legal metric name",
    ),
    "counter-without-total": (
        "metrics: {messages_sent: {name: im_sent}}\n",
        "metrics.messages_sent.name",
        "must end in _total",
    ),
    "gauge-to-counter": (
        "metrics: {sessions: {type: counter}}\n",
        "metrics.sessions.name",
        "must end in _total",
    ),
    "histogram-series-suffix": (
        "metrics: {e2e_latency: {name: e2e_seconds_bucket}}\n",
        "metrics.e2e_latency.name",
        "without _bucket/_sum/_count",
    ),
    "bad-unit": ("metrics: {sessions: {unit: Seconds}}\n", "metrics.sessions.unit", "lower-case"),
    "blank-help": (
        "metrics: {sessions: {help: '  '}}\n",
        "metrics.sessions.help",
        "one non-blank line",
    ),
    "labels-not-list": (
        "metrics: {sessions: {labels: tenant}}\n",
        "metrics.sessions.labels",
        "must be a list of label names",
    ),
    "label-name-illegal": (
        "metrics: {sessions: {labels: [1abc]}}\n",
        "metrics.sessions.labels[0]",
        "not a legal label name",
    ),
    "label-name-reserved": (
        "metrics: {sessions: {labels: [__x]}}\n",
        "metrics.sessions.labels[0]",
        "reserved by Prometheus",
    ),
    "label-is-target": (
        "metrics: {sessions: {labels: [instance]}}\n",
        "metrics.sessions.labels[0]",
        "implicit on every metric",
    ),
    "label-le-on-histogram": (
        "metrics: {e2e_latency: {labels: [le]}}\n",
        "metrics.e2e_latency.labels[0]",
        "reserved on a histogram",
    ),
    "label-duplicate": (
        "metrics: {sessions: {labels: [a, a]}}\n",
        "metrics.sessions.labels[1]",
        "duplicate label 'a'",
    ),
    "rename-unknown-label": (
        "metrics: {messages_sent: {labels: {usr_type: kind}}}\n",
        "metrics.messages_sent.labels.usr_type",
        "not a label of this",
    ),
    "rename-illegal": (
        "metrics: {messages_sent: {label_map: {tenant: a.b}}}\n",
        "metrics.messages_sent.label_map.tenant",
        "not a legal label name",
    ),
    "rename-collision": (
        "metrics: {messages_sent: {labels: {user_type: tenant}}}\n",
        "metrics.messages_sent.labels",
        "both map to 'tenant'",
    ),
    "rename-both-forms": (
        "metrics: {messages_sent: {labels: {tenant: t}, label_map: {}}}\n",
        "metrics.messages_sent.label_map",
        "not both",
    ),
    "buckets-not-ascending": (
        "metrics: {e2e_latency: {buckets: [0.5, 0.1]}}\n",
        "metrics.e2e_latency.buckets[1]",
        "must be ascending",
    ),
    "buckets-repeated": (
        "metrics: {e2e_latency: {buckets: [0.1, 0.1]}}\n",
        "metrics.e2e_latency.buckets[1]",
        "must be ascending (0.1 after 0.1)",
    ),
    "buckets-not-positive": (
        "metrics: {e2e_latency: {buckets: [0, 1]}}\n",
        "metrics.e2e_latency.buckets[0]",
        "positive and finite",
    ),
    "buckets-inf": (
        "metrics: {e2e_latency: {buckets: [1, .inf]}}\n",
        "metrics.e2e_latency.buckets[1]",
        "+Inf is implicit",
    ),
    "bucket-not-number": (
        "metrics: {e2e_latency: {buckets: ['0.1', 1]}}\n",
        "metrics.e2e_latency.buckets[0]",
        "must be a number (got text '0.1')",
    ),
    "bucket-bool": (
        "metrics: {e2e_latency: {buckets: [true]}}\n",
        "metrics.e2e_latency.buckets[0]",
        "must be a number (got boolean",
    ),
    "histogram-without-buckets": (
        "metrics: {e2e_latency: {buckets: []}}\n",
        "metrics.e2e_latency.buckets",
        "needs at least one bucket",
    ),
    "became-histogram-without-buckets": (
        "metrics: {sessions: {type: histogram}}\n",
        "metrics.sessions.buckets",
        "needs at least one",
    ),
    "buckets-on-gauge": (
        "metrics: {sessions: {buckets: [1]}}\n",
        "metrics.sessions.buckets",
        "only histograms have buckets",
    ),
    "quantile-above-one": (
        "metrics: {gc_pause: {quantiles: [0.5, 1.5]}}\n",
        "metrics.gc_pause.quantiles[1]",
        "within [0, 1]",
    ),
    "quantile-below-zero": (
        "metrics: {gc_pause: {quantiles: [-0.1]}}\n",
        "metrics.gc_pause.quantiles[0]",
        "within [0, 1]",
    ),
    "quantiles-on-counter": (
        "metrics: {messages_sent: {quantiles: [0.5]}}\n",
        "metrics.messages_sent.quantiles",
        "only summaries",
    ),
    "new-metric-incomplete": (
        "metrics: {push: {name: push_total, type: counter}}\n",
        "metrics.push.unit",
        "missing: unit, help, layer",
    ),
    "new-metric-typo-key": (
        "metrics: {mesages_sent: {name: x_total}}\n",
        "metrics.mesages_sent.type",
        "did you mean 'messages_sent'",
    ),
    "metric-key-illegal": (
        "metrics: {my-metric: null}\n",
        "metrics.my-metric",
        "not a legal metric key",
    ),
    "remove-unknown": (
        "metrics: {gc_paus: null}\n",
        "metrics.gc_paus",
        "no such metric to remove (did you mean 'gc_pause'?)",
    ),
    "duplicate-name": (
        "metrics: {sessions: {name: im_connections_count}}\n",
        "metrics.sessions.name",
        "metrics.connections already exports",
    ),
    "duplicate-name-earlier-entry": (
        "metrics: {connections: {name: im_sessions_active}}\n",
        "metrics.connections.name",
        "metrics.sessions already",
    ),
    "duplicate-series": (
        "metrics: {goroutines: {name: im_status_sync_duration_seconds_sum}}\n",
        "metrics.goroutines.name",
        "metrics.status_sync_duration already",
    ),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_mapping_file(case, tmp_path):
    text, loc, problem = INVALID[case]
    path = write(tmp_path, text)
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {loc}: "), message
    assert problem in message
    assert "\n" not in message


def test_missing_file(tmp_path):
    path = tmp_path / "absent.yaml"
    with pytest.raises(CatalogError, match=f"^{re.escape(str(path))}: no such file$"):
        load_catalog(path)


def test_unreadable_file(tmp_path):
    with pytest.raises(CatalogError, match=f"^{re.escape(str(tmp_path))}: cannot read"):
        load_catalog(tmp_path)


def test_file_not_utf8(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("labels: {tenant: mandant\xe9}\n".encode("latin-1"))
    with pytest.raises(CatalogError, match="latin1.yaml: not UTF-8 text"):
        load_catalog(path)


def test_invalid_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "metrics:\n  sessions:\n    name: a: b\n")
    with pytest.raises(CatalogError, match=r"my\.yaml: line 3, column 12: invalid YAML: "):
        load_catalog(path)


def test_duplicate_yaml_key_is_refused(tmp_path):
    path = write(tmp_path, "metrics:\n  sessions: {help: One.}\n  sessions: {help: Two.}\n")
    with pytest.raises(CatalogError, match=r"my\.yaml: line 3.*duplicate key 'sessions'"):
        load_catalog(path)


def test_from_dict_names_its_source():
    with pytest.raises(CatalogError, match=r"^<dict>: metrics\.sessions\.type: "):
        Catalog.from_dict({"metrics": {"sessions": {"type": "gauges"}}})


def test_direct_spec_construction_is_validated():
    with pytest.raises(CatalogError, match=r"^metrics\.x\.buckets: a histogram needs"):
        MetricSpec("x", "x_seconds", "histogram", "seconds", "X.", "message")
    with pytest.raises(CatalogError, match=r"^metrics\.x\.labels: must be a list"):
        MetricSpec("x", "x", "gauge", "", "X.", "queue", labels="tenant")
    with pytest.raises(CatalogError, match=r"^metrics\.x\.label_map\.tenant: not a label"):
        MetricSpec("x", "x", "gauge", "", "X.", "queue", label_map={"tenant": "t"})


def test_direct_spec_is_normalised():
    spec = MetricSpec(
        "x",
        "x_seconds",
        "histogram",
        "seconds",
        "X.",
        "message",
        labels=["a"],
        buckets=[1, 2],
        label_map={"a": "a", "job": "svc"},
    )
    assert spec.labels == ("a",) and spec.buckets == (1.0, 2.0)
    assert spec.label_map == {"job": "svc"}


def test_catalog_refuses_duplicate_keys():
    spec = default_catalog()["sessions"]
    with pytest.raises(CatalogError, match=r"^metrics\.sessions: duplicate key"):
        Catalog([spec, spec])


# ------------------------------------------------------------------- hostile files

def _bomb() -> str:
    """Nine levels of nine aliases: a small file whose repr is 9**9 strings long."""
    levels = ['&a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"&{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "[" + ", ".join(levels) + "]"


@pytest.mark.parametrize("field", ["help", "labels", "unit", "type", "buckets"])
def test_alias_bombs_are_named_quickly(tmp_path, field):
    path = write(tmp_path, f"metrics:\n  e2e_latency:\n    {field}: {_bomb()}\n")
    began = time.monotonic()
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert time.monotonic() - began < 5  # a guard against the expansion, not a speed test
    assert str(path) in str(info.value) and f"e2e_latency.{field}" in str(info.value)
    assert len(str(info.value)) < 600


def test_huge_mapping_files_are_refused_unread(tmp_path):
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as handle:
        handle.truncate(50 << 20)  # 50 MB (sparse: nothing to write)
    began = time.monotonic()
    with pytest.raises(CatalogError, match=r"huge.yaml: 52,428,800 bytes, more than .*max_bytes"):
        load_catalog(path)
    assert time.monotonic() - began < 2
    small = write(tmp_path, "metrics: {gc_pause: null}\n")
    with pytest.raises(CatalogError, match="max_bytes"):
        load_catalog(small, max_bytes=10)
    assert "gc_pause" not in load_catalog(small, max_bytes=100)
    with pytest.raises(CatalogError, match="/dev/zero: 11 bytes, more than"):
        load_catalog("/dev/zero", max_bytes=10)  # no size on disk: the read is bounded
