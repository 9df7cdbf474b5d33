"""Alertmanager configuration for the IM alerts, with DingTalk and WeCom robot webhooks.

Routing: by tenant first (a tenant's own robot, then on to the on-call route), then by
severity: critical pages the on-call DingTalk and WeCom robots, warning goes to WeCom,
info is recorded only. Inhibition: a critical alert on an instance silences that
instance's warnings, and a connection-layer outage silences the message-layer alerts of
the same instance (messages cannot be delivered to clients that are not connected).

DingTalk and WeCom robots take their own JSON, so Alertmanager posts to a webhook bridge
(e.g. prometheus-webhook-dingtalk) that renders `TEMPLATE_FILE`'s messages; they carry
the alert's context labels (trace_id, room_id, ...) when an alert has them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import yaml

from ..rules.files import HEADER

TEMPLATE_FILE = "im-alerts.tmpl"
CONTEXT_LABELS = ("tenant", "path", "room_id", "trace_id", "user_type")


@dataclass(frozen=True)
class Robots:
    """Webhook bridge URLs of one team's DingTalk and WeCom robots."""

    dingtalk: str | None = None
    wecom: str | None = None


@dataclass(frozen=True)
class AlertmanagerSettings:
    oncall: Robots = Robots(dingtalk="http://127.0.0.1:8060/dingtalk/im-oncall/send",
                            wecom="http://127.0.0.1:8061/wecom/im-oncall/send")
    tenants: Mapping[str, Robots] = field(default_factory=dict)
    group_by: tuple[str, ...] = ("alertname", "job", "tenant")
    group_wait: str = "30s"
    group_interval: str = "5m"
    repeat_interval: str = "4h"
    resolve_timeout: str = "5m"


def alertmanager_config(settings: AlertmanagerSettings | None = None) -> dict:
    s = settings or AlertmanagerSettings()
    return {
        "global": {"resolve_timeout": s.resolve_timeout},
        "templates": [TEMPLATE_FILE],
        "route": _route(s),
        "receivers": _receivers(s),
        "inhibit_rules": _inhibitions(),
    }


def dump_config(settings: AlertmanagerSettings | None = None) -> str:
    return HEADER + yaml.safe_dump(alertmanager_config(settings), sort_keys=False, width=100)


def _route(s: AlertmanagerSettings) -> dict:
    routes = [{"receiver": f"tenant-{name}", "matchers": [f'tenant="{name}"'], "continue": True}
              for name in sorted(s.tenants)]
    routes += [
        {"receiver": "im-critical", "matchers": ['severity="critical"']},
        {"receiver": "im-warning", "matchers": ['severity="warning"']},
        {"receiver": "im-info", "matchers": ['severity="info"']},
    ]
    return {"receiver": "im-warning", "group_by": list(s.group_by),
            "group_wait": s.group_wait, "group_interval": s.group_interval,
            "repeat_interval": s.repeat_interval, "routes": routes}


def _receivers(s: AlertmanagerSettings) -> list[dict]:
    receivers = [
        _receiver("im-critical", [s.oncall.dingtalk, s.oncall.wecom]),
        _receiver("im-warning", [s.oncall.wecom]),
        {"name": "im-info"},  # recorded in Alertmanager, sent nowhere
    ]
    receivers += [_receiver(f"tenant-{name}", [robots.dingtalk, robots.wecom])
                  for name, robots in sorted(s.tenants.items())]
    return receivers


def _receiver(name: str, urls: Sequence[str | None]) -> dict:
    hooks = [{"url": url, "send_resolved": True, "max_alerts": 20} for url in urls if url]
    return {"name": name, "webhook_configs": hooks} if hooks else {"name": name}


def _inhibitions() -> list[dict]:
    return [
        {"source_matchers": ['severity="critical"'], "target_matchers": ['severity="warning"'],
         "equal": ["job", "instance"]},
        {"source_matchers": ['layer="connection"', 'severity="critical"'],
         "target_matchers": ['layer="message"'], "equal": ["job", "instance"]},
    ]


def message_template() -> str:
    """Go templates the robot bridges render: title and Markdown text with the context."""
    context = "".join(
        f'{{{{ if .Labels.{label} }}}}\n> {label}: {{{{ .Labels.{label} }}}}{{{{ end }}}}'
        for label in CONTEXT_LABELS)
    alert = (
        '{{ define "im.alert" }}'
        "**{{ .Labels.alertname }}** ({{ .Labels.severity }})\n"
        "{{ .Annotations.summary }}\n"
        "> {{ .Annotations.description }}\n"
        "> instance: {{ .Labels.instance }}, job: {{ .Labels.job }}"
        f"{context}\n"
        "> since {{ .StartsAt.Format \"2006-01-02 15:04:05 MST\" }}, "
        "[runbook]({{ .Annotations.runbook_url }})\n"
        "{{ end }}"
    )
    title = ('{{ define "im.title" }}[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:'
             "{{ .Alerts.Firing | len }}{{ end }}] {{ .CommonLabels.alertname }}{{ end }}")
    text = ('{{ define "im.text" }}{{ range .Alerts.Firing }}{{ template "im.alert" . }}'
            "{{ end }}{{ range .Alerts.Resolved }}[resolved] {{ template \"im.alert\" . }}"
            "{{ end }}{{ end }}")
    header = "{{/* Generated by imanalytics; edit the generator, not this file. */}}"
    return f"{header}\n{alert}\n{title}\n{text}\n"
