"""Labelled incidents: what went wrong, where and when, as ground truth for backtests.

An `Incident` is a time window ``[start, end)``, a kind from `INCIDENT_KINDS` and the
labels of what it hit (always ``instance``; ``tenant`` or ``path`` where the kind is
scoped to one). Incident files are YAML (a list of mappings) or CSV (one column per
label name, empty meaning absent) chosen by suffix; both round-trip exactly.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

INCIDENT_KINDS = (
    "message_loss",
    "latency_regression",
    "connection_drop",
    "mq_backlog",
    "api_5xx_burst",
    "goroutine_leak",
)

# Duration range in minutes per kind; a leak needs time to grow before the OOM restart.
DURATION_MINUTES = {
    "message_loss": (10, 60),
    "latency_regression": (15, 90),
    "connection_drop": (20, 60),
    "mq_backlog": (15, 75),
    "api_5xx_burst": (10, 45),
    "goroutine_leak": (60, 120),
}

FIELDS = ("start", "end", "kind", "labels")
QUIET_DAYS = 1  # no incidents on the first day: baselines need clean history
GAP = pd.Timedelta("30min")  # minimum quiet time between incidents on one instance


@dataclass(frozen=True)
class Incident:
    start: pd.Timestamp
    end: pd.Timestamp
    kind: str
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        start, end = to_utc(self.start), to_utc(self.end)
        if end <= start:
            raise ValueError(f"incident end {end} is not after start {start}")
        _kind(self.kind)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        object.__setattr__(self, "labels", _labels(self.labels))

    def __hash__(self):
        return hash((self.start, self.end, self.kind, tuple(sorted(self.labels.items()))))

    @property
    def instance(self) -> str:
        return self.labels.get("instance", "")

    def overlaps(self, start: pd.Timestamp, end: pd.Timestamp) -> bool:
        return self.start < end and start < self.end

    def to_dict(self) -> dict:
        return {
            "start": format_time(self.start),
            "end": format_time(self.end),
            "kind": self.kind,
            "labels": dict(sorted(self.labels.items())),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Incident:
        """Build from `to_dict` output; errors name the offending field."""
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise ValueError(f"unknown field {unknown[0]!r}")
        missing = [f for f in FIELDS[:3] if data.get(f) in (None, "")]
        if missing:
            raise ValueError(f"missing field {missing[0]!r}")
        start = _field("start", to_utc, data["start"])
        end = _field("end", to_utc, data["end"])
        if end <= start:
            raise ValueError(f"field 'end': {format_time(end)} is not after start")
        kind = _field("kind", _kind, data["kind"])
        labels = _field("labels", _labels, data.get("labels") or {})
        return cls(start, end, kind, labels)


def to_utc(value) -> pd.Timestamp:
    """A tz-aware UTC timestamp; naive input is taken as UTC."""
    if not isinstance(value, (str, datetime, np.datetime64, pd.Timestamp)):
        raise ValueError(f"not a timestamp: {value!r}")
    ts = pd.Timestamp(value)
    if ts is pd.NaT:
        raise ValueError(f"not a timestamp: {value!r}")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def format_time(ts: pd.Timestamp) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def _field(name: str, parse, value):
    try:
        return parse(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"field {name!r}: {exc}") from None


def _kind(value) -> str:
    if value not in INCIDENT_KINDS:
        raise ValueError(f"unknown incident kind {value!r}; expected one of {INCIDENT_KINDS}")
    return value


def _labels(value) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError(f"expected a mapping of label names to values, got {value!r}")
    bad = [k for k, v in value.items() if not (isinstance(k, str) and isinstance(v, str) and v)]
    if bad:
        raise ValueError(f"label {bad[0]!r} must be a name with a non-empty string value")
    return dict(value)


# ---------------------------------------------------------------------------- files


def write_incidents(incidents: Iterable[Incident], path: str | Path) -> Path:
    """Write incidents to ``.yaml``/``.yml`` or ``.csv`` (by suffix), sorted by start."""
    path = Path(path)
    rows = [i.to_dict() for i in sorted(incidents, key=_order)]
    writer = _by_suffix(path, {"yaml": _write_yaml, "csv": _write_csv})
    writer(rows, path)
    return path


def read_incidents(path: str | Path) -> list[Incident]:
    """Read a file written by `write_incidents`; a malformed entry names file and field."""
    path = Path(path)
    reader = _by_suffix(path, {"yaml": _read_yaml, "csv": _read_csv})
    incidents = []
    for where, row in reader(path):
        try:
            incidents.append(Incident.from_dict(row))
        except ValueError as exc:
            raise ValueError(f"{path}: {where}: {exc}") from None
    return sorted(incidents, key=_order)


def _order(incident: Incident) -> tuple:
    return incident.start, incident.end, incident.kind, sorted(incident.labels.items())


def _by_suffix(path: Path, handlers: dict):
    suffix = path.suffix.lower().lstrip(".")
    kind = "yaml" if suffix == "yml" else suffix
    if kind not in handlers:
        raise ValueError(f"{path}: unsupported incident file type (use .yaml, .yml or .csv)")
    return handlers[kind]


def _write_yaml(rows: list[dict], path: Path) -> None:
    text = yaml.safe_dump(rows, sort_keys=False, default_flow_style=False)
    path.write_text(text, encoding="utf-8")


def _read_yaml(path: Path):
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        problem = str(exc).splitlines()[0]
        raise ValueError(f"{path}: not valid YAML: {problem}") from None
    if data is None:
        return []
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of incidents, got {type(data).__name__}")
    rows = []
    for n, row in enumerate(data, 1):
        if not isinstance(row, dict):
            raise ValueError(f"{path}: incident {n}: expected a mapping, got {row!r}")
        rows.append((f"incident {n}", row))
    return rows


def _write_csv(rows: list[dict], path: Path) -> None:
    names = sorted({name for row in rows for name in row["labels"]})
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow([*FIELDS[:3], *names])
        for row in rows:
            labels = row["labels"]
            out.writerow(
                [row["start"], row["end"], row["kind"], *(labels.get(n, "") for n in names)]
            )


def _read_csv(path: Path):
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return []
        if header[:3] != list(FIELDS[:3]) or len(set(header)) != len(header):
            raise ValueError(f"{path}: line 1: header must start with start,end,kind: {header}")
        rows = []
        for values in reader:
            if len(values) != len(header):
                raise ValueError(
                    f"{path}: line {reader.line_num}: expected {len(header)} fields, "
                    f"got {len(values)}"
                )
            row = dict(zip(header[:3], values[:3], strict=True))
            row["labels"] = {k: v for k, v in zip(header[3:], values[3:], strict=True) if v}
            rows.append((f"line {reader.line_num}", row))
    return rows


# ----------------------------------------------------------------------- scheduling


def plan_incidents(
    rng: np.random.Generator,
    instances: Sequence[str],
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    tenants: Sequence[str],
    paths: Sequence[str],
    kinds: Sequence[str] | None = None,
) -> list[Incident]:
    """Place incidents at random over ``[start + 1 day, end)``, none overlapping per instance.

    ``kinds=None`` draws about 1–2 incidents per day over the fleet, every kind at least
    once when there are four days or more; otherwise exactly the given kinds are placed.
    """
    lo, hi = start + pd.Timedelta(days=QUIET_DAYS), end - pd.Timedelta("15min")
    if kinds is None:
        every_kind = end - start >= pd.Timedelta(days=4)
        kinds = random_kinds(rng, (hi - lo) / pd.Timedelta(days=1), every_kind)
    for kind in kinds:
        _kind(kind)
    placed: list[Incident] = []
    for kind in kinds:
        placed.append(_place(rng, kind, instances, lo, hi, placed, tenants, paths))
    return sorted(placed, key=_order)


def random_kinds(rng: np.random.Generator, span_days: float, every_kind: bool) -> list[str]:
    """About 1-2 kinds per day, cycling through shuffled rounds of all kinds."""
    if span_days <= 0:
        return []
    n = int(round(rng.uniform(1.0, 2.0) * span_days))
    if every_kind:
        n = max(n, len(INCIDENT_KINDS))
    rounds = -(-n // len(INCIDENT_KINDS))
    kinds = [k for _ in range(rounds) for k in rng.permutation(INCIDENT_KINDS)]
    return [str(k) for k in kinds[:n]]


def _place(rng, kind, instances, lo, hi, placed, tenants, paths) -> Incident:
    low, high = DURATION_MINUTES[kind]
    for _ in range(1000):
        duration = pd.Timedelta(minutes=int(rng.integers(low, high + 1)))
        room = int((hi - lo - duration) / pd.Timedelta("1s"))
        if room <= 0:
            break
        begin = lo + pd.Timedelta(seconds=int(rng.integers(0, room)))
        instance = str(instances[rng.integers(len(instances))])
        busy = any(
            p.instance == instance and p.overlaps(begin - GAP, begin + duration + GAP)
            for p in placed
        )
        if not busy:
            labels = {"instance": instance}
            if kind == "message_loss":
                labels["tenant"] = str(tenants[rng.integers(len(tenants))])
            if kind == "api_5xx_burst":
                labels["path"] = str(paths[rng.integers(len(paths))])
            return Incident(begin, begin + duration, kind, labels)
    raise ValueError(f"no room for a {kind} incident between {lo} and {hi}")
