"""Event-level detection quality: alert events matched against labelled incident windows.

An alert matches an incident when the incident's kind is one the alerting SLI watches, their
labels agree on every label both carry (an alert on ``{job, instance}`` matches a
``message_loss`` incident labelled ``{instance, tenant}`` on the same instance), and the
alert's ``[start, end]`` overlaps ``[incident start, incident end + grace]``.

- precision = alerts matching some incident / alerts
- recall = incidents matched by some alert / incidents
- time to detect (TTD) = first matching alert's `start` (firing time) − incident start,
  0 when an alert was already firing.

`match` returns both tables; `merge` unions several SLIs' tables (an incident is detected
when any of them caught it), `summary` and `by_kind` reduce them to numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..frames import parse_series
from ..samples import NAME
from ..sandbox.incidents import Incident

DEFAULT_GRACE = "15min"


@dataclass(frozen=True)
class Matching:
    """`alerts`: the alert events with `matched` and the matched incident's `kind`.
    `incidents`: one row per incident with `detected`, `first_alert` and `ttd`."""

    alerts: pd.DataFrame
    incidents: pd.DataFrame


@dataclass(frozen=True)
class Quality:
    precision: float
    recall: float
    f1: float
    mean_ttd: pd.Timedelta | None
    alerts: int
    true_alerts: int
    incidents: int
    detected: int


def match(alerts: pd.DataFrame, incidents: Sequence[Incident], *,
          kinds: Iterable[str] | None = None, grace=DEFAULT_GRACE,
          labels: dict[str, str] | None = None) -> Matching:
    """Match alert events (`AlertPolicy.alerts` output) to `incidents`.

    Only incidents of `kinds` (all when None) are considered. An alert's labels come from
    its `series` column (Prometheus text form, as in wide frames) merged with `labels`.
    """
    kinds = None if kinds is None else set(kinds)
    chosen = [i for i in incidents if kinds is None or i.kind in kinds]
    table = incident_table(chosen)
    grace = pd.Timedelta(grace)
    kind = [None] * len(alerts)
    first = [pd.NaT] * len(chosen)
    for row, alert in enumerate(alerts.itertuples(index=False)):
        alert_labels = {**_labels(getattr(alert, "series", None)), **(labels or {})}
        for k, incident in enumerate(chosen):
            if _agree(alert_labels, incident.labels) and \
                    alert.start <= incident.end + grace and alert.end >= incident.start:
                kind[row] = kind[row] or incident.kind
                if pd.isna(first[k]) or alert.start < first[k]:
                    first[k] = alert.start
    matched = alerts.copy()
    matched["matched"] = pd.Series([k is not None for k in kind], index=alerts.index,
                                   dtype=bool)
    matched["kind"] = pd.Series(kind, index=alerts.index, dtype=object)
    table["first_alert"] = pd.to_datetime(pd.Series(first, dtype=object), utc=True)
    table["detected"] = table["first_alert"].notna()
    table["ttd"] = (table["first_alert"] - table["start"]).clip(lower=pd.Timedelta(0))
    return Matching(matched, table)


def incident_table(incidents: Sequence[Incident]) -> pd.DataFrame:
    """Incidents as rows: start, end, kind and labels (``k=v`` text, sorted)."""
    return pd.DataFrame({
        "start": pd.to_datetime([i.start for i in incidents], utc=True),
        "end": pd.to_datetime([i.end for i in incidents], utc=True),
        "kind": pd.Series([i.kind for i in incidents], dtype=object),
        "labels": pd.Series([_label_text(i.labels) for i in incidents], dtype=object),
    })


def merge(matchings: Iterable[Matching]) -> Matching:
    """Union of matchings over the same or overlapping incidents (e.g. several SLIs)."""
    matchings = list(matchings)
    alerts = pd.concat([m.alerts for m in matchings], ignore_index=True)
    incidents = pd.concat([m.incidents for m in matchings], ignore_index=True)
    key = ["start", "end", "kind", "labels"]
    incidents = incidents.groupby(key, sort=True, as_index=False).agg(
        first_alert=("first_alert", "min"))
    incidents["detected"] = incidents["first_alert"].notna()
    incidents["ttd"] = (incidents["first_alert"] - incidents["start"]).clip(
        lower=pd.Timedelta(0))
    return Matching(alerts, incidents)


def summary(matching: Matching) -> Quality:
    """Precision, recall, F1 and mean TTD of a matching."""
    n_alerts = len(matching.alerts)
    true_alerts = int(matching.alerts["matched"].sum()) if n_alerts else 0
    n_incidents = len(matching.incidents)
    detected = int(matching.incidents["detected"].sum()) if n_incidents else 0
    precision = true_alerts / n_alerts if n_alerts else float("nan")
    recall = detected / n_incidents if n_incidents else float("nan")
    f1 = (2 * precision * recall / (precision + recall)
          if n_alerts and n_incidents and precision + recall > 0 else 0.0)
    ttd = matching.incidents.loc[matching.incidents["detected"], "ttd"] if n_incidents else []
    mean_ttd = pd.Timedelta(np.mean([t.value for t in ttd]), "ns") if len(ttd) else None
    return Quality(precision, recall, f1, mean_ttd, n_alerts, true_alerts, n_incidents,
                   detected)


def by_kind(matching: Matching) -> pd.DataFrame:
    """Recall and mean TTD per incident kind."""
    rows = []
    for kind, group in matching.incidents.groupby("kind", sort=True):
        ttd = group.loc[group["detected"], "ttd"]
        rows.append({"kind": kind, "incidents": len(group),
                     "detected": int(group["detected"].sum()),
                     "recall": float(group["detected"].mean()),
                     "mean_ttd": ttd.mean() if len(ttd) else pd.NaT})
    return pd.DataFrame(rows, columns=["kind", "incidents", "detected", "recall", "mean_ttd"])


def _labels(series) -> dict[str, str]:
    if not isinstance(series, str) or not series:
        return {}
    labels = parse_series(series)
    labels.pop(NAME, None)
    return labels


def _agree(alert: dict[str, str], incident: dict[str, str]) -> bool:
    return all(alert[k] == v for k, v in incident.items() if k in alert)


def _label_text(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
