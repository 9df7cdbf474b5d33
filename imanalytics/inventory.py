"""Which catalog metrics a server has, under which names, and how many series and label values.

Series are listed through ``/api/v1/series``, which reads only the TSDB index (no samples),
so an inventory stays cheap on large servers. A label is flagged high-cardinality when the
catalog lists it in ``high_cardinality`` or when it takes more than ``max_label_values``
distinct values on one metric.
"""

from __future__ import annotations

import difflib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pandas as pd

from .catalog import Catalog, MetricSpec, default_catalog
from .samples import NAME
from .source import PromSource, SourceError
from .timeparse import now_ms, to_millis

MAX_LABEL_VALUES = 100
# The label each type adds to one of its series.
_TYPE_LABELS = {("histogram", "_bucket"): "le", ("summary", ""): "quantile"}


@dataclass(frozen=True)
class Inventory:
    """``metrics``: one row per catalog series name; ``labels``: one row per (metric, label),
    counting the distinct values over all of the metric's series (``_bucket`` etc.)."""

    metrics: pd.DataFrame
    labels: pd.DataFrame
    engine: str = ""  # the query engine that answered, e.g. "Prometheus 2.53.0"

    @property
    def missing(self) -> list[str]:
        return self.metrics.loc[~self.metrics["present"], "series"].tolist()

    @property
    def high_cardinality(self) -> pd.DataFrame:
        return self.labels[self.labels["high_cardinality"]]

    def __str__(self) -> str:
        return format_inventory(self)

    def _repr_html_(self) -> str:
        from .display import inventory_html

        return inventory_html(self)


def inventory(source: PromSource, catalog: Catalog | None = None, start="now-1h", end="now",
              max_label_values: int = MAX_LABEL_VALUES) -> Inventory:
    """Look up every series name of `catalog` (default: the built-in one) on `source`.

    Names come from the catalog, so a mapped catalog is checked under the service's own
    names and selectors. Absent names get the closest names the server does have.
    """
    now = now_ms()
    if to_millis(end, now) < to_millis(start, now):  # before any request
        raise SourceError(f"inventory: the range ends before it starts ({start!r} to {end!r})")
    catalog = catalog or default_catalog()
    wanted = [(spec, suffix) for spec in catalog for suffix in _suffixes(spec)]
    engine = source.engine  # one request first: an unreachable server fails once, not per metric
    found = _series_of(source, [catalog.selector(spec.key, sfx) for spec, sfx in wanted],
                       start, end)
    names = source.label_values(NAME, start=start, end=end) if any(f.empty for f in found) else []
    metric_rows, families = [], {}
    for (spec, suffix), series in zip(wanted, found, strict=True):
        expected = _expected_labels(catalog, spec, suffix)
        metric_rows.append(_metric_row(spec, suffix, series, expected, names))
        families.setdefault(spec.key, (spec, []))[1].append(series)
    label_rows = [row for spec, frames in families.values()
                  for row in _label_rows(spec, pd.concat(frames), catalog, max_label_values)]
    return Inventory(pd.DataFrame(metric_rows, columns=_METRIC_COLUMNS),
                     pd.DataFrame(label_rows, columns=_LABEL_COLUMNS), str(engine))


_METRIC_COLUMNS = ["layer", "key", "type", "series", "present", "count", "labels",
                   "missing_labels", "unexpected_labels", "candidates"]
_LABEL_COLUMNS = ["key", "metric", "label", "values", "high_cardinality", "why"]


def window_hint(source: PromSource, catalog: Catalog | None = None, end="now",
                lookback: str = "90d") -> str | None:
    """Asked when an inventory found nothing: when the catalog's first metric last had
    samples within `lookback` before `end`, as a hint to move the window (None if never)."""
    catalog = catalog or default_catalog()
    spec = next(iter(catalog))
    selector = catalog.selector(spec.key, _suffixes(spec)[0])
    # timestamp() inside a subquery: the newest hourly step at which samples existed.
    found = source.instant(f"max(max_over_time(timestamp({selector})[{lookback}:1h]))", end)
    newest = found.max(axis=None) if found.size else float("nan")
    if pd.isna(newest):
        return None
    last = pd.Timestamp(float(newest), unit="s", tz="UTC")
    return (f"{spec.name} has samples up to {last:%Y-%m-%d %H:%M} UTC: the data ends before "
            f"the window; try --start {(last - pd.Timedelta('1h')):%Y-%m-%dT%H:%M}Z "
            f"--end {last:%Y-%m-%dT%H:%M}Z")


def _series_of(source: PromSource, selectors: list[str], start, end) -> list[pd.DataFrame]:
    with ThreadPoolExecutor(max(1, source.max_workers)) as pool:
        futures = [pool.submit(source.series, sel, start, end) for sel in selectors]
        try:
            return [f.result() for f in futures]
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise


def _suffixes(spec: MetricSpec) -> list[str]:
    return [name[len(spec.name):] for name in spec.series_names()]


def _expected_labels(catalog: Catalog, spec: MetricSpec, suffix: str) -> list[str]:
    extra = _TYPE_LABELS.get((spec.type, suffix))
    return [*catalog.target_labels, *spec.mapped_labels(), *([extra] if extra else [])]


def _metric_row(spec: MetricSpec, suffix: str, series: pd.DataFrame, expected: list[str],
                names: list[str]) -> dict:
    seen = [c for c in series.columns if c != NAME and series[c].notna().any()]
    name = spec.name + suffix
    return {
        "layer": spec.layer, "key": spec.key, "type": spec.type, "series": name,
        "present": not series.empty, "count": len(series), "labels": ",".join(sorted(seen)),
        "missing_labels": "" if series.empty else ",".join(x for x in expected if x not in seen),
        "unexpected_labels": ",".join(sorted(set(seen) - set(expected))),
        "candidates": "" if not series.empty else ",".join(
            difflib.get_close_matches(name, names, n=3, cutoff=0.6)),
    }


def _label_rows(spec: MetricSpec, series: pd.DataFrame, catalog: Catalog,
                limit: int) -> list[dict]:
    rows = []
    listed = set(catalog.high_cardinality)
    for label in sorted(c for c in series.columns if c != NAME):
        count = int(series[label].nunique(dropna=True))
        reasons = (["listed in catalog.high_cardinality"] if label in listed else []) + (
            [f"more than {limit} values"] if count > limit else [])
        rows.append({"key": spec.key, "metric": spec.name, "label": label, "values": count,
                     "high_cardinality": bool(reasons), "why": "; ".join(reasons)})
    return rows


def format_inventory(inv: Inventory) -> str:
    """Metrics table, then distinct values per metric and label (``!`` = high-cardinality)."""
    metrics = inv.metrics.assign(present=inv.metrics["present"].map({True: "yes", False: "NO"}))
    flagged = inv.high_cardinality
    lines = [f"engine: {inv.engine}"] if inv.engine else []
    lines += [f"catalog series found: {int(inv.metrics['present'].sum())} of {len(inv.metrics)}",
             "", _table(metrics.drop(columns=["labels"])), "",
             "distinct label values per metric (! = high-cardinality)", "",
             _table(_cardinality_matrix(inv.labels)), "",
             f"high-cardinality labels: {len(flagged)}"]
    lines += [f"  {r.metric} {r.label}: {r['values']} values ({r.why})"
              for _, r in flagged.iterrows()]
    return "\n".join(lines)


def _cardinality_matrix(labels: pd.DataFrame) -> pd.DataFrame:
    if labels.empty:
        return labels
    cells = labels["values"].astype(str) + labels["high_cardinality"].map({True: "!", False: ""})
    matrix = labels.assign(cell=cells).pivot(index="key", columns="label", values="cell")
    order = list(dict.fromkeys(labels["key"]))
    return matrix.reindex(order).fillna("").reset_index()


def _table(frame: pd.DataFrame) -> str:
    return "(none)" if frame.empty else frame.to_string(index=False)
