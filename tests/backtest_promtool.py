"""A backtest held to ``promtool test rules``: the rule file and its input go to promtool,
with the alerts firing and the series readable at every minute as the backtest has them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from imanalytics.frames import parse_series
from imanalytics.promql import evaluate_instant
from imanalytics.rules import Backtest, run_rule_tests
from imanalytics.samples import Series, format_series


def check_with_promtool(folder: Path, rules: str, data: Sequence[Series], result: Backtest,
                        minutes: int, *, alerts: Sequence[str], exprs: Sequence[str],
                        interval: str = "1m", order: Sequence[str] = (),
                        at_minute: Callable[[int], Backtest] | None = None) -> None:
    """promtool evaluates `rules` every `interval` over `data` and must see what `result`
    has: at every minute the firing `alerts` (labels and annotations, taken from
    `at_minute(m)` when given: the backtest stopped at that minute) and `exprs` read back."""
    (folder / "rules.yml").write_text(rules)
    checks, queries = [], []
    for minute in range(minutes + 1):
        episodes = (at_minute(minute) if at_minute else result).alerts
        for name in alerts:
            checks.append({"eval_time": f"{minute}m", "alertname": name,
                           "exp_alerts": _firing(episodes, name, minute)})
        for expr in exprs:
            frame = evaluate_instant(expr, list(data) + result.series, minute * 60)
            samples = [{"labels": c, "value": float(frame[c].iloc[0])}
                       for c in frame.columns if not np.isnan(frame[c].iloc[0])]
            queries.append({"expr": expr, "eval_time": f"{minute}m", "exp_samples": samples})
    series = [{"series": format_series(s.labels), "values": _slots(s, minutes)} for s in data]
    case = {"interval": "1m", "input_series": series, "alert_rule_test": checks,
            "promql_expr_test": queries}
    test = {"rule_files": ["rules.yml"], "evaluation_interval": interval,
            "group_eval_order": list(order), "tests": [case]}
    (folder / "rules.test.yml").write_text(yaml.safe_dump(test, sort_keys=False,
                                                          width=1_000_000))
    run_rule_tests(folder / "rules.test.yml")


def rule_file(factory, text: str) -> Path:
    """`text` written as a rule file in a fresh folder of pytest's `tmp_path_factory`."""
    path = factory.mktemp("rules") / "rules.yml"
    path.write_text(text)
    return path


def counters(steps: Sequence[int], gap: tuple[int, int]) -> list[Series]:
    """``req_total`` of two jobs over one sample a minute: api rising by `steps` (and not
    scraped in the `gap` minutes, ends excluded), web by the same steps reversed."""
    t = np.arange(len(steps), dtype=np.int64) * 60_000
    keep = (t < gap[0] * 60_000) | (t > gap[1] * 60_000)
    api = Series({"__name__": "req_total", "job": "api"}, t[keep],
                 np.cumsum(steps).astype(float)[keep])
    web = Series({"__name__": "req_total", "job": "web"}, t,
                 np.cumsum(steps[::-1]).astype(float))
    return [api, web]


def _firing(episodes: pd.DataFrame, name: str, minute: int) -> list[dict]:
    now = pd.Timestamp(minute * 60, unit="s", tz="UTC")
    rows = episodes[(episodes.alertname == name) & episodes.fired_at.notna()]
    return [{"exp_labels": _labels(r.labels, name), "exp_annotations": r.annotations}
            for r in rows.itertuples()
            if r.fired_at <= now and (pd.isna(r.resolved_at) or r.resolved_at > now)]


def _labels(text: str, name: str) -> dict:
    labels = parse_series(text)
    assert labels.pop("alertname") == name
    return labels


def _slots(s: Series, minutes: int) -> str:
    """The series on promtool's 1-minute input grid; a staleness marker is ``stale``."""
    assert not (s.t % 60_000).any(), f"{format_series(s.labels)} is off the minute grid"
    values = dict(zip((s.t // 60_000).tolist(), s.v.tolist(), strict=True))
    return " ".join("_" if m not in values else "stale" if np.isnan(values[m])
                    else repr(values[m]) for m in range(minutes + 1))
