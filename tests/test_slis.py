"""The SLI definitions file and how its PromQL shapes render over default and mapped catalogs."""

from __future__ import annotations

import dataclasses
import textwrap
from importlib import resources

import pytest
import yaml

from imanalytics.catalog import LAYERS, CatalogError, default_catalog, load_catalog
from imanalytics.slis import LOWER, SLI, UPPER, slis

SHAPES = {"ratio": {"bad", "total", "bad_match"}, "quantile": {"metric", "q"},
          "gauge": {"metric", "agg"}}
MAPPING = """\
selectors: ['job="im-server"']
labels: {tenant: app_id, instance: pod, job: service}
metrics:
  api_requests: {labels: {status: code}}
  goroutines: null
  processing_duration: {name: proc_seconds}
"""


def _definitions() -> dict:
    text = resources.files("imanalytics").joinpath("slis.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def test_every_definition_is_well_formed():
    sli_fields = {f.name for f in dataclasses.fields(SLI)} - {"key", "expr", "by", "volume"}
    catalog = default_catalog()
    for key, entry in _definitions().items():
        shapes = [name for name in SHAPES if name in entry]
        assert len(shapes) == 1, (key, shapes)
        shape = entry[shapes[0]]
        assert set(shape) <= SHAPES[shapes[0]], key
        assert all(shape[f] in catalog for f in ("bad", "total", "metric") if f in shape), key
        assert set(entry) - {shapes[0], "by"} <= sli_fields, key
        assert entry["direction"] in (UPPER, LOWER) and entry["layer"] in LAYERS, key


def test_default_slis_follow_the_file_in_order():
    built = slis()
    assert [s.key for s in built] == list(_definitions())
    assert slis(default_catalog()) == built
    ratio = next(s for s in built if s.key == "delivery_failure_ratio")
    assert ratio.expr == (
        "sum by (job, instance) (rate(im_message_delivery_failures_total[5m])) / "
        "sum by (job, instance) (rate(im_messages_sent_total[5m]))")
    assert ratio.volume == "sum by (job, instance) (rate(im_messages_sent_total[5m]))"
    assert ratio.static_expr == (
        "job_instance:im_message_delivery_failures_per_sent:ratio_rate5m > 0.05")
    connections = next(s for s in built if s.key == "connections")
    assert connections.volume is None and connections.static_expr.endswith("< 1000")


def test_slis_render_through_a_mapping(tmp_path):
    path = tmp_path / "map.yaml"
    path.write_text(textwrap.dedent(MAPPING))
    mapped = {s.key: s for s in slis(load_catalog(path))}
    assert "goroutines" not in mapped and len(mapped) == len(_definitions()) - 1
    api = mapped["api_error_ratio"]
    assert api.by == ("service", "pod", "path")
    assert api.expr.startswith(
        'sum by (service, pod, path) (rate(im_api_requests_total{job="im-server",code=~"5.."}'
        "[5m])) / ")
    p99 = mapped["processing_latency_p99"]
    assert p99.expr == ('histogram_quantile(0.99, sum by (service, pod, le) '
                        '(rate(proc_seconds_bucket{job="im-server"}[5m])))')
    assert p99.volume == 'sum by (service, pod) (rate(proc_seconds_count{job="im-server"}[5m]))'
    lag = mapped["mq_consumer_lag"]
    assert lag.expr == 'max by (service, pod) (im_mq_consumer_lag_seconds{job="im-server"})'


def test_a_grouping_label_renamed_on_one_metric_groups_by_the_service_name(tmp_path):
    path = tmp_path / "map.yaml"
    path.write_text("metrics:\n  api_requests: {labels: {path: route}}\n")
    api = next(s for s in slis(load_catalog(path)) if s.key == "api_error_ratio")
    assert api.by == ("job", "instance", "route")
    assert api.expr.count("sum by (job, instance, route)") == 2 and "path" not in api.expr


def test_a_grouping_label_renamed_apart_on_one_slis_metrics_is_refused(tmp_path):
    path = tmp_path / "map.yaml"
    path.write_text("metrics:\n  messages_sent: {labels: {instance: pod}}\n")
    with pytest.raises(CatalogError, match=r"SLI delivery_failure_ratio: .*'instance'"):
        slis(load_catalog(path))
