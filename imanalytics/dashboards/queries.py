"""PromQL for dashboard panels, on recording rules where one fits, else on raw metrics.

Every selector carries the job and instance variable matchers (and tenant where the
metric has tenants, which are then always read raw), so the pickers filter every panel;
SLI panels show the recorded SLI, which is per instance over all tenants. Job-level
recording rules have no instance label and cannot honour the instance picker, so queries
read the ``job_instance`` rules and aggregate them up; a breakdown no rule records (by tenant,
by reason, by path) falls back to ``rate(...[$__rate_interval])`` over the raw metric.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..catalog import Catalog, MetricSpec, default_catalog
from ..rules import WINDOW, recording_rules
from ..slis import SLI, UPPER

RATE_INTERVAL = "$__rate_interval"
_INSTANCE_LEVEL = ("job", "instance")


def with_matchers(selector: str, *matchers: str) -> str:
    """`selector` with more label matchers."""
    if not matchers:
        return selector
    if selector.endswith("}"):
        return f"{selector[:-1]},{','.join(matchers)}}}"
    return f"{selector}{{{','.join(matchers)}}}"


def base_name(name: str) -> str:
    """A counter's name without ``_total``, as recording rules name its rate."""
    return name[: -len("_total")] if name.endswith("_total") else name


@dataclass(frozen=True)
class Scope:
    """The catalog the panels describe and the recording rules that exist for it."""

    catalog: Catalog
    records: frozenset[str]

    @classmethod
    def of(cls, catalog: Catalog | None = None, extra_records: Iterable[str] = ()) -> Scope:
        """`catalog`'s generated recording rules, plus records other rule files define."""
        cat = catalog or default_catalog()
        records = {rule.record for rule in recording_rules(cat)} | set(extra_records)
        return cls(cat, frozenset(records))

    # -- labels and selectors

    def spec(self, key: str) -> MetricSpec:
        return self.catalog[key]

    def has(self, *keys: str) -> bool:
        """Whether the catalog has every metric: a mapping file may remove some."""
        return all(key in self.catalog for key in keys)

    def label(self, key: str, name: str) -> str:
        """The service's name for a label of metric `key` (target labels included)."""
        spec = self.spec(key)
        return spec.label(name) if name in spec.labels else self.catalog.label(name)

    def filters(self, key: str | None = None) -> tuple[str, ...]:
        """The variable matchers for a metric's raw series (tenant only where it has one)."""
        cat = self.catalog
        out = [f'{cat.label("job")}=~"$job"', f'{cat.label("instance")}=~"$instance"']
        if key is not None and "tenant" in self.spec(key).labels:
            out.append(f'{self.spec(key).label("tenant")}=~"$tenant"')
        return tuple(out)

    def series(self, key: str, suffix: str = "", *matchers: str) -> str:
        """A raw series selector with the catalog's selectors and the variable matchers."""
        return with_matchers(self.catalog.selector(key, suffix), *self.filters(key), *matchers)

    def recorded(self, record: str) -> str:
        """A recorded series at the job/instance level, filtered by the pickers."""
        return with_matchers(record, *self.filters())

    def by(self, key: str, labels: Sequence[str]) -> str:
        return ", ".join(self.label(key, name) for name in labels)

    def legend(self, key: str, labels: Sequence[str]) -> str:
        shown = [name for name in labels if name != "job"] or ["job"]
        return " ".join(f"{{{{{self.label(key, name)}}}}}" for name in shown)

    # -- aggregates of one metric

    def rate(self, key: str, by: Sequence[str] = ("job",), suffix: str = "") -> str:
        """Per-second rate of a counter series, summed by `by`."""
        spec = self.spec(key)
        record = self._record(key, f"{base_name(spec.name + suffix)}:rate{WINDOW}", by)
        if record:
            return self._aggregate("sum", key, by, self.recorded(record))
        raw = f"rate({self.series(key, suffix)}[{RATE_INTERVAL}])"
        return f"sum by ({self.by(key, by)}) ({raw})"

    def error_ratio(self, key: str, matcher: str, by: Sequence[str] = ("job",)) -> str:
        """The share of a counter's rate whose series match `matcher` (e.g. 5xx statuses).

        No rule records the filtered rate per instance, so both sides read the raw
        counter over the same window.
        """
        part = f"rate({self.series(key, '', matcher)}[{RATE_INTERVAL}])"
        whole = f"rate({self.series(key)}[{RATE_INTERVAL}])"
        by_text = self.by(key, by)
        return f"sum by ({by_text}) ({part}) / sum by ({by_text}) ({whole})"

    def level(self, key: str, by: Sequence[str] = _INSTANCE_LEVEL) -> str:
        """A gauge's level: summed, or its worst value when it is a duration (a lag)."""
        spec = self.spec(key)
        op = "max" if spec.unit == "seconds" else "sum"
        record = self._record(key, f"{spec.name}:{op}", by)
        if record:
            return self._aggregate(op, key, by, self.recorded(record))
        return f"{op} by ({self.by(key, by)}) ({self.series(key)})"

    def quantile(self, key: str, q: float, by: Sequence[str] = ("job",)) -> str:
        """A histogram quantile from bucket rates summed by `by` and ``le``."""
        return f"histogram_quantile({q:g}, {self.bucket_rates(key, by)})"

    def bucket_rates(self, key: str, by: Sequence[str] = ()) -> str:
        """Histogram bucket rates summed by `by` and ``le`` (a heatmap's input)."""
        spec = self.spec(key)
        by_le = f"{self.by(key, by)}, le" if by else "le"
        record = self._record(key, f"{spec.name}_bucket:rate{WINDOW}", by, level_suffix="_le")
        if record:
            return f"sum by ({by_le}) ({self.recorded(record)})"
        raw = f"rate({self.series(key, '_bucket')}[{RATE_INTERVAL}])"
        return f"sum by ({by_le}) ({raw})"

    def mean(self, key: str, by: Sequence[str] = ("job",)) -> str:
        """Mean observation of a histogram or summary: rate of _sum over rate of _count."""
        return f"{self.rate(key, by, '_sum')} / {self.rate(key, by, '_count')}"

    def summary_quantiles(
        self, key: str, by: Sequence[str] = ("job",), only: float | None = None
    ) -> str:
        """A summary's quantiles (or `only` one), worst instance: they cannot be aggregated."""
        spec = self.spec(key)
        pick = (f'quantile="{only:g}"',) if only is not None else ()
        record = self._record(key, f"{spec.name}:max", by, level_suffix="_quantile")
        if record:
            source = with_matchers(self.recorded(record), *pick)
        else:
            source = self.series(key, "", *pick)
        return f"max by ({self.by(key, by)}, quantile) ({source})"

    def ratio(self, numerator: str, denominator: str, by: Sequence[str] = ("job",)) -> str:
        """Two counters' rates, each aggregated before dividing."""
        return f"{self.rate(numerator, by)} / {self.rate(denominator, by)}"

    # -- SLIs

    def sli(self, sli: SLI) -> str:
        return self.recorded(sli.record)

    def sli_worst(self, sli: SLI) -> str:
        """The worst series of an SLI: alerts fire per series, so the worst one matters."""
        op = "max" if sli.direction == UPPER else "min"
        return f"{op}({self.sli(sli)})"

    def sli_band(self, sli: SLI, bound: str) -> str:
        """The baseline band's ``lower`` or ``upper`` series of an SLI.

        Baseline rules are named like the SLI with the strategy and bound put in front of
        its operations (``level:metric:adaptive_band_upper_ratio_rate5m``). A rule file
        that records one names it exactly; otherwise the query matches any strategy's,
        so the dashboard shows the band of whichever baseline the review exported.
        """
        level, metric, ops = sli.record.split(":")
        for record in sorted(self.records):
            parts = record.split(":")
            if (len(parts) == 3 and parts[:2] == [level, metric]
                    and parts[2].endswith(f"_{bound}_{ops}")):
                return self.recorded(record)
        any_strategy = f'__name__=~"{level}:{metric}:[a-z_]+_{bound}_{ops}"'
        return "{" + ",".join((any_strategy, *self.filters())) + "}"

    def _aggregate(self, op: str, key: str, by: Sequence[str], recorded: str) -> str:
        """`op` over a job/instance-level recorded series, which needs none at that level."""
        if set(by) == set(_INSTANCE_LEVEL):
            return recorded
        return f"{op} by ({self.by(key, by)}) ({recorded})"

    def _record(self, key: str, metric_ops: str, by: Sequence[str],
                level_suffix: str = "") -> str | None:
        """The job/instance-level rule for `metric_ops`, if it exists and covers `by`.

        A metric with tenants is read raw: its job/instance rules sum the tenants away,
        and a panel must honour the tenant picker.
        """
        if not set(by) <= set(_INSTANCE_LEVEL) or "tenant" in self.spec(key).labels:
            return None
        level = "_".join(self.catalog.label(name) for name in _INSTANCE_LEVEL)
        record = f"{level}{level_suffix}:{metric_ops}"
        return record if record in self.records else None
