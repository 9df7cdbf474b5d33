"""Panels derived from the catalog: one set per metric by type, and one per SLI.

`metric_panels` is what makes a metric added to the catalog show up on its layer's
dashboard; `sli_stat` and `sli_timeseries` draw an SLI with its alert thresholds. The
curated panels the dashboards share (`levels`, `rates`, `latency_panels`, ...) live here too.
"""

from __future__ import annotations

from collections.abc import Sequence

from grafanalib.core import Panel

from ..catalog import MetricSpec
from ..slis import SLI
from . import panels as p
from .queries import Scope
from .thresholds import RuleFiles, Threshold, steps

PERCENTILES = (0.5, 0.9, 0.99)
BAND_LOWER, BAND_UPPER = "baseline lower", "baseline upper"
_BAND_EDGE = [
    {"id": "color", "value": {"fixedColor": "text", "mode": "fixed"}},
    {"id": "custom.lineWidth", "value": 0},
    {"id": "custom.hideFrom", "value": {"legend": True, "tooltip": False, "viz": False}},
]
_BAND_LOWER = [*_BAND_EDGE, {"id": "custom.fillOpacity", "value": 0}]
# The upper edge is filled down to the lower one: a shaded band.
_BAND_UPPER = [*_BAND_EDGE, {"id": "custom.fillOpacity", "value": 25},
               {"id": "custom.fillBelowTo", "value": BAND_LOWER}]


_ACRONYMS = {"api": "API", "e2e": "E2E", "gc": "GC", "mq": "MQ", "io": "IO"}


def title_of(key: str) -> str:
    """``mq_consumer_lag`` -> ``MQ consumer lag``."""
    words = [_ACRONYMS.get(word, word) for word in key.split("_")]
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


def unit(spec: MetricSpec, rate: bool = False) -> str:
    """The Grafana unit id for a metric's values (or their per-second rate)."""
    if spec.unit == "seconds":
        return "s"
    if spec.unit == "bytes":
        return "Bps" if rate else "bytes"
    if rate:
        return "reqps" if spec.unit == "requests" else "cps"
    return "short"


def breakdown(scope: Scope, spec: MetricSpec) -> tuple[str, ...]:
    """Labels to split a metric's panel by: its own labels, else the instance."""
    high = set(scope.catalog.high_cardinality)
    own = tuple(name for name in spec.labels if spec.label(name) not in high)
    return ("job", *own) if own else ("job", "instance")


def metric_panels(scope: Scope, spec: MetricSpec) -> list[Panel]:
    """The generic panels for one catalog metric, chosen by its type."""
    build = {"counter": _counter, "gauge": _gauge, "histogram": _histogram,
             "summary": _summary}[spec.type]
    return build(scope, spec)


def instance_panels(scope: Scope, spec: MetricSpec) -> list[Panel]:
    """One panel per metric showing each instance: rate, level, p99 or mean by type."""
    by, name = ("job", "instance"), title_of(spec.key)
    if spec.type == "counter":
        title, expr, what = f"{name} per second", scope.rate(spec.key, by), "Per-second rate"
    elif spec.type == "gauge":
        title, expr, what = name, scope.level(spec.key, by), "Level"
    elif spec.type == "histogram":
        title, expr, what = f"{name} p99", scope.quantile(spec.key, 0.99, by), "99th percentile"
    else:
        title, expr, what = f"{name} mean", scope.mean(spec.key, by), "Mean"
    return [p.timeseries(f"{title} by instance", f"{spec.help} {what} per instance.",
                         [p.query(expr, "{{instance}}")], unit(spec, spec.type == "counter"))]


def percentiles(scope: Scope, key: str, title: str, *, w: int = 12) -> Panel:
    """p50/p90/p99 of a histogram, fleet-wide per job."""
    spec = scope.spec(key)
    targets = [p.query(scope.quantile(key, q), f"p{q * 100:g} {{{{job}}}}") for q in PERCENTILES]
    return p.timeseries(title, f"{spec.help} Percentiles over all selected instances.",
                        targets, unit(spec), w=w)


def bucket_heatmap(scope: Scope, key: str, title: str, *, w: int = 12) -> Panel:
    spec = scope.spec(key)
    return p.heatmap(title, f"{spec.help} Observations per second in each bucket.",
                     scope.bucket_rates(key), unit(spec), w=w)


def latency_panels(scope: Scope, key: str, name: str) -> list[Panel]:
    """A latency histogram's percentiles and heatmap, side by side."""
    return [percentiles(scope, key, f"{name} latency percentiles"),
            bucket_heatmap(scope, key, f"{name} latency heatmap")]


def by_label(scope: Scope, key: str, label: str) -> tuple[str, ...]:
    """Split by `label` where the metric has it, else by instance."""
    return ("job", label) if label in scope.spec(key).labels else ("job", "instance")


def levels(scope: Scope, key: str, title: str, by: Sequence[str] = ("job", "instance"),
           stack: bool = False) -> Panel:
    """A gauge's level per `by`."""
    spec = scope.spec(key)
    return p.timeseries(title, spec.help,
                        [p.query(scope.level(key, by), scope.legend(key, by))],
                        unit(spec), stack=stack)


def rates(scope: Scope, key: str, title: str, by: Sequence[str], stack: bool = True,
          description: str | None = None) -> Panel:
    """A counter's per-second rate per `by`; described by its help and "Per second."
    unless `description` says otherwise."""
    spec = scope.spec(key)
    return p.timeseries(title, f"{spec.help} Per second." if description is None else description,
                        [p.query(scope.rate(key, by), scope.legend(key, by))],
                        unit(spec, rate=True), stack=stack)


def message_rates(scope: Scope, title: str) -> Panel:
    """Messages sent and delivered, per job."""
    sent, delivered = scope.rate("messages_sent"), scope.rate("messages_delivered")
    return p.timeseries(
        title, "Messages accepted from senders and delivered to recipient devices, per second.",
        [p.query(sent, "sent {{job}}"), p.query(delivered, "delivered {{job}}")],
        unit(scope.spec("messages_sent"), rate=True))


def sli_stat(scope: Scope, sli: SLI, rules: RuleFiles, *, title: str = "", w: int = 4) -> Panel:
    """The worst series of an SLI now, colored by its alert thresholds.

    Where no alert compares the SLI with a number (a baseline alert), the tile keeps
    the SLI's static threshold, its SLO, so it still turns red.
    """
    found = rules.thresholds(sli) or (Threshold(float(sli.static_threshold)),)
    note = "Worst series." if rules.thresholds(sli) else (
        f"Worst series; colored at its static threshold {sli.static_threshold:g}.")
    return p.stat(title or sli.title, _sli_description(sli, rules, note),
                  [p.query(scope.sli_worst(sli))], sli.unit,
                  thresholds=steps(sli, found), w=w)


def sli_timeseries(scope: Scope, sli: SLI, rules: RuleFiles, *, bands: bool = False,
                   w: int = 12) -> Panel:
    """An SLI per series with its alert threshold lines, and with `bands` the baseline
    band as a shaded area between its lower and upper series.

    The band reads whichever baseline strategy's rules Prometheus records for the SLI
    (see `Scope.sli_band`). Grafana fills between two named series only, so the band is
    drawn on panels showing one series; the baselines dashboard repeats them per instance.
    """
    legend = " ".join(f"{{{{{name}}}}}" for name in sli.by[1:]) or "{{job}}"
    targets = [p.query(scope.sli(sli), legend)]
    overrides, note = [], ""
    if bands:
        lower, upper = scope.sli_band(sli, "lower"), scope.sli_band(sli, "upper")
        targets += [p.query(lower, BAND_LOWER), p.query(upper, BAND_UPPER)]
        overrides = [_override(BAND_LOWER, _BAND_LOWER), _override(BAND_UPPER, _BAND_UPPER)]
        note = "Shaded: the baseline band, where baseline rules record it."
    return p.timeseries(sli.title, _sli_description(sli, rules, note), targets, sli.unit,
                        thresholds=steps(sli, rules.thresholds(sli)), overrides=overrides,
                        w=w)


def _override(name: str, properties: list[dict]) -> dict:
    return {"matcher": {"id": "byName", "options": name}, "properties": properties}


def _sli_description(sli: SLI, rules: RuleFiles, note: str) -> str:
    found = rules.thresholds(sli)
    source = "tuned alert rules" if rules.alerts is not None else "static alert"
    if found:
        side = "above" if sli.direction == "upper" else "below"
        values = ", ".join(f"{t.value:g} ({t.severity})" for t in found)
        alert = f"Alerts {side} {values}, from the {source}."
    else:
        alert = "No alert rule compares this SLI with a fixed threshold."
    return " ".join(part for part in (f"{sli.summary} Recorded as {sli.record}.", alert, note)
                    if part)


def _counter(scope: Scope, spec: MetricSpec) -> list[Panel]:
    by = breakdown(scope, spec)
    shown = ", ".join(scope.label(spec.key, name) for name in by[1:])
    return [p.timeseries(
        f"{title_of(spec.key)} per second", f"{spec.help} Per-second rate by {shown}.",
        [p.query(scope.rate(spec.key, by), scope.legend(spec.key, by))],
        unit(spec, rate=True), stack=True)]


def _gauge(scope: Scope, spec: MetricSpec) -> list[Panel]:
    by = breakdown(scope, spec)
    shown = ", ".join(scope.label(spec.key, name) for name in by[1:])
    return [p.timeseries(
        title_of(spec.key), f"{spec.help} By {shown}.",
        [p.query(scope.level(spec.key, by), scope.legend(spec.key, by))], unit(spec))]


def _histogram(scope: Scope, spec: MetricSpec) -> list[Panel]:
    name = title_of(spec.key)
    out = [percentiles(scope, spec.key, f"{name} percentiles"),
           bucket_heatmap(scope, spec.key, f"{name} heatmap")]
    by = breakdown(scope, spec)
    if "instance" not in by:
        shown = ", ".join(scope.label(spec.key, label) for label in by[1:])
        out.append(p.timeseries(
            f"{name} p99 by {shown}", f"{spec.help} 99th percentile by {shown}.",
            [p.query(scope.quantile(spec.key, 0.99, by), scope.legend(spec.key, by))],
            unit(spec)))
    return out


def _summary(scope: Scope, spec: MetricSpec) -> list[Panel]:
    name = title_of(spec.key)
    by = breakdown(scope, spec)
    shown = ", ".join(scope.label(spec.key, label) for label in by[1:])
    out = [p.timeseries(
        f"{name} mean", f"{spec.help} Mean observation by {shown}.",
        [p.query(scope.mean(spec.key, by), scope.legend(spec.key, by))], unit(spec))]
    if spec.quantiles:
        legend = f"q{{{{quantile}}}} {scope.legend(spec.key, by)}"
        out.append(p.timeseries(
            f"{name} quantiles",
            f"{spec.help} Quantiles by {shown}; where series merge, the highest is shown.",
            [p.query(scope.summary_quantiles(spec.key, by), legend)], unit(spec)))
    return out
