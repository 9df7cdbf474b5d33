"""IM recording rules generated from the catalog, named ``level:metric:operations``.

Every catalog metric gets the aggregates its type calls for (counter rates, histogram
bucket rates with p50/p90/p99 and means, summary means and quantiles, gauge levels), at
the job level and at the levels of its own labels; high-cardinality labels never
survive. The SLIs and the IM ratios (delivery success, failure, loss, API errors) are
built on those, numerators and denominators aggregated separately before dividing.
Adding a metric to the catalog adds its rules.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..catalog import Catalog, MetricSpec, default_catalog
from ..slis import slis

QUANTILES = (0.5, 0.9, 0.99)
WINDOW = "5m"
_CHANGE_LAYERS = ("connection",)  # levels whose change over time is recorded too


@dataclass(frozen=True)
class RecordingRule:
    record: str
    expr: str
    group: str

    def as_dict(self) -> dict:
        return {"record": self.record, "expr": self.expr}


def recording_rules(catalog: Catalog | None = None) -> list[RecordingRule]:
    """All recording rules, in evaluation order (a rule only refers to earlier ones)."""
    cat = catalog or default_catalog()
    rules: list[RecordingRule] = []
    for spec in cat:
        rules += _metric_rules(cat, spec)
    rules += _ratio_rules(cat)
    # An SLI that a generic rule already records (a p99, a level) is not recorded twice.
    rules += [RecordingRule(s.record, s.expr, "im-slis") for s in slis(cat)]
    return _unique(rules)


def rule_groups(catalog: Catalog | None = None) -> list[dict]:
    """Recording rules as Prometheus rule groups, one per layer plus the SLIs."""
    groups: dict[str, list[dict]] = {}
    for rule in recording_rules(catalog):
        groups.setdefault(rule.group, []).append(rule.as_dict())
    return [{"name": name, "rules": rules} for name, rules in groups.items()]


def inline(expr: str, rules: Sequence[RecordingRule]) -> str:
    """`expr` with every recorded series it uses replaced by the rule's expression.

    Gives the raw-data form that a server or the local evaluator can run without the
    recorded series existing. Recorded names contain colons, so they never clash with
    raw metric names.
    """
    known = {r.record: r.expr for r in rules}
    pattern = re.compile(r"(?<![\w:])([a-zA-Z_][\w]*:[\w:]+)(?![\w:{])")
    for _ in range(len(known) + 1):
        replaced = pattern.sub(lambda m: f"({known[m.group(1)]})" if m.group(1) in known
                               else m.group(1), expr)
        if replaced == expr:
            return expr
        expr = replaced
    raise ValueError(f"recording rules refer to each other in a cycle: {expr}")


# --- per-metric rules ----------------------------------------------------------------


def _metric_rules(cat: Catalog, spec: MetricSpec) -> list[RecordingRule]:
    build = {"counter": _counter, "gauge": _gauge, "histogram": _histogram,
             "summary": _summary}[spec.type]
    return build(cat, spec)


def _levels(cat: Catalog, spec: MetricSpec) -> list[tuple[str, ...]]:
    """Label sets to aggregate to: job, job+instance, and job + each metric label set."""
    keep = [label for label in spec.labels
            if spec.label(label) not in cat.high_cardinality]
    levels = [("job",), ("job", "instance")]
    if "tenant" in keep:
        levels.append(("job", "tenant"))
    if keep and tuple(keep) != ("tenant",):
        levels.append(("job", *keep))
    return levels


def _labels(cat: Catalog, spec: MetricSpec, level: Sequence[str]) -> list[str]:
    """The level's labels under the names the service uses for this metric."""
    return [spec.label(label) if label in spec.labels else cat.label(label) for label in level]


def _level_name(cat: Catalog, spec: MetricSpec, level: Sequence[str]) -> str:
    return "_".join(_labels(cat, spec, level))


def _by(cat: Catalog, spec: MetricSpec, level: Sequence[str], *extra: str) -> str:
    return ", ".join([*_labels(cat, spec, level), *extra])


def _rule(spec: MetricSpec, level_name: str, operations: str, expr: str) -> RecordingRule:
    """The rule ``level:metric:operations`` for `spec`, in its layer's group."""
    return RecordingRule(f"{level_name}:{spec.name}:{operations}", expr, f"im-{spec.layer}")


def _base(name: str) -> str:
    return name[: -len("_total")] if name.endswith("_total") else name


def _rate(cat: Catalog, spec: MetricSpec, level, suffix: str = "", extra=()) -> RecordingRule:
    sel = cat.selector(spec.key, suffix)
    lvl = _level_name(cat, spec, level) + "".join(f"_{e}" for e in extra)
    metric = _base(spec.name + suffix)
    expr = f"sum by ({_by(cat, spec, level, *extra)}) (rate({sel}[{WINDOW}]))"
    return RecordingRule(f"{lvl}:{metric}:rate{WINDOW}", expr, f"im-{spec.layer}")


def _counter(cat: Catalog, spec: MetricSpec) -> list[RecordingRule]:
    return [_rate(cat, spec, level) for level in _levels(cat, spec)]


def _gauge(cat: Catalog, spec: MetricSpec) -> list[RecordingRule]:
    # Levels add up across instances; a lag or a latency does not, its worst case matters.
    op = "max" if spec.unit == "seconds" else "sum"
    rules = []
    for level in _levels(cat, spec):
        lvl = _level_name(cat, spec, level)
        expr = f"{op} by ({_by(cat, spec, level)}) ({cat.selector(spec.key)})"
        rules.append(_rule(spec, lvl, op, expr))
        if spec.layer in _CHANGE_LAYERS:
            change = f"{op} by ({_by(cat, spec, level)}) (delta({cat.selector(spec.key)}[1h]))"
            rules.append(_rule(spec, lvl, f"{op}_delta1h", change))
    return rules


def _histogram(cat: Catalog, spec: MetricSpec) -> list[RecordingRule]:
    rules = []
    for level in _levels(cat, spec):
        buckets = _rate(cat, spec, level, "_bucket", extra=("le",))
        rules.append(buckets)
        rules += _means(cat, spec, level)
        lvl = _level_name(cat, spec, level)
        for q in QUANTILES:
            rules.append(_rule(spec, lvl, f"p{_percent(q)}_rate{WINDOW}",
                               f"histogram_quantile({q}, {buckets.record})"))
    return rules


def _summary(cat: Catalog, spec: MetricSpec) -> list[RecordingRule]:
    rules = []
    for level in _levels(cat, spec):
        rules += _means(cat, spec, level)
        if spec.quantiles:
            # Summary quantiles cannot be aggregated; the worst instance is the honest view.
            lvl = _level_name(cat, spec, level) + "_quantile"
            expr = f"max by ({_by(cat, spec, level, 'quantile')}) ({cat.selector(spec.key)})"
            rules.append(_rule(spec, lvl, "max", expr))
    return rules


def _means(cat: Catalog, spec: MetricSpec, level) -> list[RecordingRule]:
    total, count = _rate(cat, spec, level, "_sum"), _rate(cat, spec, level, "_count")
    lvl = _level_name(cat, spec, level)
    mean = _rule(spec, lvl, f"mean_rate{WINDOW}", f"{total.record} / {count.record}")
    return [total, count, mean]


def _percent(q: float) -> str:
    return f"{q * 100:g}".replace(".", "_")


# --- IM ratios -----------------------------------------------------------------------


def _ratio_rules(cat: Catalog) -> list[RecordingRule]:
    rules = []
    if {"messages_sent", "messages_delivered"} <= set(cat.metrics):
        for level in (("job",), ("job", "tenant")):
            rules += _delivery(cat, level)
    if "api_requests" in cat:
        rules += _api_errors(cat)
    return rules


def _delivery(cat: Catalog, level: tuple[str, ...]) -> list[RecordingRule]:
    keys = ["messages_sent", "messages_delivered"]
    keys += ["delivery_failures"] if "delivery_failures" in cat else []
    names = {_level_name(cat, cat[k], level) for k in keys}
    if len(names) > 1:
        return []  # per-metric renames left no common label to divide on
    lvl = names.pop()
    sent, delivered, *failed = (f"{lvl}:{_base(cat[k].name)}:rate{WINDOW}" for k in keys)
    rules = [
        RecordingRule(f"{lvl}:im_messages_delivered_per_sent:ratio_rate{WINDOW}",
                      f"{delivered} / {sent}", "im-message"),
        RecordingRule(f"{lvl}:im_messages_lost:rate{WINDOW}",
                      f"clamp_min({sent} - {delivered}, 0)", "im-message"),
    ]
    if failed:
        rules.append(RecordingRule(
            f"{lvl}:im_message_delivery_failures_per_sent:ratio_rate{WINDOW}",
            f"{failed[0]} / {sent}", "im-message"))
    return rules


def _api_errors(cat: Catalog) -> list[RecordingRule]:
    spec = cat["api_requests"]
    by = _by(cat, spec, ("job", "path"))
    status = spec.label("status")
    selector = cat.selector("api_requests")
    errors = (f"{selector[:-1]},{status}=~\"5..\"}}" if selector.endswith("}")
              else f'{selector}{{{status}=~"5.."}}')
    level = _level_name(cat, spec, ("job", "path"))
    base = _base(spec.name)
    numerator = RecordingRule(f"{level}:{base}_5xx:rate{WINDOW}",
                              f"sum by ({by}) (rate({errors}[{WINDOW}]))", "im-api")
    denominator = f"sum by ({by}) (rate({selector}[{WINDOW}]))"
    total = RecordingRule(f"{level}:{base}:rate{WINDOW}", denominator, "im-api")
    ratio = RecordingRule(f"{level}:{base}_5xx_per_requests:ratio_rate{WINDOW}",
                          f"{numerator.record} / {total.record}", "im-api")
    return [numerator, total, ratio]


def _unique(rules: Sequence[RecordingRule]) -> list[RecordingRule]:
    seen: set[str] = set()
    out = []
    for rule in rules:
        if rule.record not in seen:
            seen.add(rule.record)
            out.append(rule)
    return out
