"""Alert thresholds and baseline bands for SLI panels, read from the Prometheus rule files.

The threshold review writes the tuned alert rules to ``im-alerts.rules.yml``. When that
file exists, SLI panels draw exactly the numbers its alerts compare each SLI record
with (an SLI it does not alert on gets no line); without it, each SLI's static
threshold stands in. Baseline bands are the baseline strategies' ``lower`` and
``upper`` series (``level:metric:<strategy>_upper_<ops>``), drawn when a rule file
records them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..errors import ImanalyticsError
from ..promql import PromQLError, ast, parse
from ..promql.ast import unwrap
from ..slis import SLI, UPPER
from .promtree import walk

ALERT_FILE = "im-alerts.rules.yml"
_SEVERITY_COLORS = {"critical": "red", "warning": "orange", "info": "yellow"}
_FLIP = {">": "<", "<": ">", ">=": "<=", "<=": ">="}


@dataclass(frozen=True)
class Threshold:
    value: float
    severity: str = "critical"

    @property
    def color(self) -> str:
        return _SEVERITY_COLORS.get(self.severity, "red")


@dataclass(frozen=True)
class RuleFiles:
    """What the dashboards need from a rules directory."""

    records: frozenset[str] = frozenset()
    alerts: tuple[dict, ...] | None = None  # None: no alert file, use static thresholds
    alert_file: str = ""

    def thresholds(self, sli: SLI) -> tuple[Threshold, ...]:
        """The thresholds the alert rules compare `sli` with, lowest first."""
        if self.alerts is None:
            return (Threshold(float(sli.static_threshold)),)
        found = {t for alert in self.alerts for t in _compared(alert, sli, self.alert_file)}
        return tuple(sorted(found, key=lambda t: (t.value, t.severity)))


def read_rule_files(rules_dir: str | Path | None) -> RuleFiles:
    """Recorded series names and alert rules from ``*.rules.yml`` in `rules_dir`.

    ``None`` reads nothing; a path that is not a directory is an error, so a mistyped
    path never builds dashboards silently without the tuned thresholds.
    """
    if rules_dir is None:
        return RuleFiles()
    if not Path(rules_dir).is_dir():
        raise ImanalyticsError(f"--rules {rules_dir}: no such directory of rule files")
    records: set[str] = set()
    alerts = None
    for path in sorted(Path(rules_dir).glob("*.rules.yml")):
        rules = _rules(path)
        records |= {r["record"] for r in rules if "record" in r}
        if path.name == ALERT_FILE:
            alerts = tuple(r for r in rules if "alert" in r)
    alert_file = str(Path(rules_dir) / ALERT_FILE) if alerts is not None else ""
    return RuleFiles(frozenset(records), alerts, alert_file)


def steps(sli: SLI, thresholds: Iterable[Threshold]) -> list[dict]:
    """Grafana threshold steps: the bad side of each threshold takes its severity's color."""
    ordered = sorted(thresholds, key=lambda t: t.value)
    if not ordered:
        return [{"color": "green", "value": None}]
    if sli.direction == UPPER:
        return [{"color": "green", "value": None}] + [
            {"color": t.color, "value": t.value} for t in ordered]
    # Bad when low: below the lowest threshold is the most severe band.
    colors = [t.color for t in ordered[1:]] + ["green"]
    return [{"color": ordered[0].color, "value": None}] + [
        {"color": color, "value": t.value} for t, color in zip(ordered, colors, strict=True)]


def _rules(path: Path) -> list[dict]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ImanalyticsError(f"{path}: invalid YAML: {exc}".replace("\n", " ")) from None
    groups = data.get("groups") if isinstance(data, dict) else None
    if not isinstance(groups, list):
        raise ImanalyticsError(f"{path}: not a Prometheus rule file (no 'groups' list)")
    return [rule for group in groups if isinstance(group, dict)
            for rule in group.get("rules") or [] if isinstance(rule, dict)]


def _compared(alert: dict, sli: SLI, source: str) -> list[Threshold]:
    """Thresholds in comparisons of `sli`'s record with a number inside `alert`'s expr."""
    expr = str(alert.get("expr", ""))
    if sli.record not in expr:
        return []
    try:
        tree = parse(expr)
    except PromQLError as exc:
        raise ImanalyticsError(
            f"{source}: alert {alert.get('alert')}: cannot read its threshold: {exc}") from None
    severity = str((alert.get("labels") or {}).get("severity", "critical"))
    wanted = (">", ">=") if sli.direction == UPPER else ("<", "<=")
    out = []
    for node, _ in walk(tree):
        if not isinstance(node, ast.Binary) or node.op not in _FLIP:
            continue
        lhs, rhs, op = unwrap(node.lhs), unwrap(node.rhs), node.op
        if isinstance(lhs, ast.NumberLiteral):
            lhs, rhs, op = rhs, lhs, _FLIP[op]
        if (isinstance(lhs, ast.VectorSelector) and lhs.name == sli.record
                and isinstance(rhs, ast.NumberLiteral) and op in wanted):
            out.append(Threshold(rhs.value, severity))
    return out
