"""Alert rules for the IM SLIs: static thresholds or baseline bands, Prometheus-ready.

Conventions: CamelCase names, `severity` critical|warning|info, a plain-sentence
`summary`, a `description` templated with ``$labels``/``$value``, a `runbook_url` and a
``for:`` duration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..slis import SLI, UPPER

SEVERITIES = ("critical", "warning", "info")
DEFAULT_RUNBOOKS = "https://runbooks.example.com/im"
# Connection and message layers are what users feel; the rest warns first.
LAYER_SEVERITY = {"connection": "critical", "message": "critical", "queue": "warning",
                  "api": "warning", "runtime": "warning"}
# Go template functions that print a value in the SLI's unit.
_HUMANIZE = {"percentunit": "humanizePercentage", "s": "humanizeDuration"}


@dataclass(frozen=True)
class AlertRule:
    name: str
    expr: str
    for_: str
    severity: str
    summary: str
    description: str
    runbook_url: str
    sli: str
    layer: str
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if self.severity not in SEVERITIES:
            raise ValueError(f"alert {self.name}: severity must be one of "
                             f"{', '.join(SEVERITIES)} (got {self.severity!r})")

    def as_dict(self) -> dict:
        # `layer` lets Alertmanager inhibit message alerts during a connection outage.
        labels = {"severity": self.severity, "sli": self.sli, "layer": self.layer,
                  **self.labels}
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": self.for_,
            "labels": dict(sorted(labels.items())),
            "annotations": {"summary": self.summary, "description": self.description,
                            "runbook_url": self.runbook_url},
        }


def alert_name(sli: SLI, suffix: str = "") -> str:
    """``ImDeliveryFailureRatioHigh``: the SLI key in CamelCase with its bad direction."""
    words = "".join(part.capitalize() for part in sli.key.split("_"))
    side = "High" if sli.direction == UPPER else "Low"
    return f"Im{words}{side}{suffix}"


def static_alert(sli: SLI, threshold: float | None = None, for_: str | None = None,
                 severity: str | None = None, runbooks: str = DEFAULT_RUNBOOKS) -> AlertRule:
    """The fixed-threshold alert on the SLI's recorded series."""
    threshold = sli.static_threshold if threshold is None else threshold
    side = "above" if sli.direction == UPPER else "below"
    return _sli_alert(sli, f"{sli.record} {_op(sli)} {threshold:g}", for_ or sli.static_for,
                      severity, f"{side} {_format_threshold(sli, threshold)}", runbooks)


def band_alert(sli: SLI, bound_expr: str, for_: str, *, strategy: str,
               severity: str | None = None, runbooks: str = DEFAULT_RUNBOOKS) -> AlertRule:
    """An alert when the SLI leaves a baseline band; `bound_expr` is the band edge series.

    The comparison matches on the SLI's own labels, so every instance (or path) is held
    to its own band.
    """
    expr = f"{sli.record} {_op(sli)} on ({', '.join(sli.by)}) ({bound_expr})"
    return _sli_alert(sli, expr, for_, severity, f"outside its {strategy} baseline band",
                      runbooks, strategy=strategy)


def _sli_alert(sli: SLI, expr: str, for_: str, severity: str | None, condition: str,
               runbooks: str, **labels: str) -> AlertRule:
    return AlertRule(
        name=alert_name(sli), expr=expr, for_=for_,
        severity=severity or LAYER_SEVERITY[sli.layer], summary=sli.summary,
        description=_description(sli, condition), runbook_url=f"{runbooks}/{sli.key}",
        sli=sli.key, layer=sli.layer, labels=labels)


def _op(sli: SLI) -> str:
    return ">" if sli.direction == UPPER else "<"


def alert_groups(alerts: Sequence[AlertRule], name: str = "im-alerts") -> list[dict]:
    """One rule group per SLI layer, in a stable order."""
    groups: dict[str, list[dict]] = {}
    for alert in sorted(alerts, key=lambda a: a.name):
        groups.setdefault(f"{name}-{alert.layer}", []).append(alert.as_dict())
    return [{"name": k, "rules": v} for k, v in sorted(groups.items())]


def _description(sli: SLI, condition: str) -> str:
    where = " ".join(f"{label}={{{{ $labels.{label} }}}}" for label in sli.by)
    value = f"{{{{ $value | {_HUMANIZE.get(sli.unit, 'humanize')} }}}}"
    return f"{sli.title} is {value} on {where}, {condition}."


def _format_threshold(sli: SLI, threshold: float) -> str:
    if sli.unit == "percentunit":
        return f"{threshold * 100:g}%"
    if sli.unit == "s":
        return f"{threshold:g}s"
    return f"{threshold:g}"
