"""What a review leaves behind: an HTML report, a Markdown and CSV summary for the meeting,
the chosen alert rules with their promtool tests, the Alertmanager configuration, and for
recommendations that ship through the baseline exporter, their fitted models
(``baselines/``) and the exporter's scrape job."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from ..alerting.alertmanager import (
    TEMPLATE_FILE,
    AlertmanagerSettings,
    dump_config,
    message_template,
)
from ..baselines import quality
from ..exporter import DEFAULT_PORT, save_baselines
from ..exporter.scrape import exporter_down_alert, exporter_down_case, scrape_config
from ..plots import html_page
from ..rules import alert_groups, alert_test_file
from ..rules.files import dump_rules, write_text_atomic
from .backtest import SLIBacktest
from .current import current_line, rule_diff
from .figures import sli_figure, timeline_figure, tradeoff_figure, value_text
from .recommend import ranked
from .shipping import Shipped, ship

ALERTS_FILE = "im-alerts.rules.yml"
BASELINE_RULES_FILE = "im-baselines.rules.yml"
ALERT_TESTS_FILE = "im-alerts.rules.test.yml"
BASELINES_DIR = "baselines"
SCRAPE_FILE = "exporter-scrape.yml"


def write_review(review, out: Path, settings: AlertmanagerSettings | None = None,
                 changes: list[tuple[str, str, str]] | None = None) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    shipped = _ship_all(review)
    files = {
        "report": out / "report.html",
        "summary": out / "summary.md",
        "candidates": out / "candidates.csv",
        "alerts": out / ALERTS_FILE,
        "baseline_rules": out / BASELINE_RULES_FILE,
        "alert_tests": out / ALERT_TESTS_FILE,
        "alertmanager": out / "alertmanager.yml",
        "template": out / TEMPLATE_FILE,
    }
    by_sli = {s.sli: s for s in shipped}
    texts = {
        "report": report_html(review, by_sli, changes),
        "summary": summary_markdown(review, changes),
        "candidates": review.candidates.to_csv(index=False, float_format="%.6g"),
        "alerts": dump_rules(alert_groups([a for a, _ in _alerts(shipped)])),
        "baseline_rules": dump_rules([g for s in shipped for g in s.recording_groups]),
        "alert_tests": alert_test_file([ALERTS_FILE], [c for _, cases in _alerts(shipped)
                                                      for c in cases]),
        "alertmanager": dump_config(settings),
        "template": message_template(),
    }
    for key, path in files.items():
        write_text_atomic(path, texts[key])
    return {**files, **write_exporter_files(shipped, out)}


def _ship_all(review) -> list[Shipped]:
    shipped = []
    for row in review.recommendations.itertuples(index=False):
        if not row.recommended:
            continue  # keep the current rule: nothing ships for this SLI
        test = review.backtest(row.sli)
        shipped.append(ship(test, chosen_row(test, row.candidate)))
    return shipped


def _alerts(shipped: list[Shipped]) -> list:
    """(alert, its promtool cases) for each shipped alert, and for the exporter's health
    when anything ships through it."""
    alerts = [(s.alert, s.cases) for s in shipped]
    if any(s.baselines for s in shipped):
        down = exporter_down_alert()
        alerts.append((down, [exporter_down_case(down)]))
    return alerts


def write_exporter_files(shipped: list[Shipped], out: Path) -> dict[str, Path]:
    """The fitted models the exporter serves and its scrape job, when anything ships
    through it; otherwise neither (a stale pair from an earlier review is removed)."""
    served = [pair for s in shipped for pair in s.baselines]
    directory, scrape = out / BASELINES_DIR, out / SCRAPE_FILE
    if not served:
        _remove_stale(directory, scrape)
        return {}
    save_baselines(directory, served)
    write_text_atomic(scrape, scrape_config([f"localhost:{DEFAULT_PORT}"]))
    return {"baselines": directory, "scrape_config": scrape}


def _remove_stale(directory: Path, scrape: Path) -> None:
    import shutil

    from ..exporter.store import INDEX_FILE

    if (directory / INDEX_FILE).exists():
        shutil.rmtree(directory)
    scrape.unlink(missing_ok=True)


def chosen_row(test: SLIBacktest, candidate: str) -> pd.Series:
    return test.candidates[test.candidates["candidate"] == candidate].iloc[0]


def _best(review, test: SLIBacktest) -> pd.Series | None:
    row = review.recommendations.set_index("sli").loc[test.sli.key]
    return chosen_row(test, row["candidate"]) if row["recommended"] else None


# --- columns, in words --------------------------------------------------------------------


def _pct(value) -> str:
    return "–" if pd.isna(value) else f"{value:.0%}"


def _num(value) -> str:
    return "–" if pd.isna(value) else f"{value:.2f}"


def _int(value) -> str:
    return "–" if pd.isna(value) else f"{value:.0f}"


def _minutes(value) -> str:
    return "–" if pd.isna(value) else f"{value:.1f} min"


def alert_when(test_or_sli, row) -> str:
    """The candidate's condition in the SLI's human unit: ``> 3.75 %``, ``outside 2× band``."""
    sli = getattr(test_or_sli, "sli", test_or_sli)
    if not isinstance(row.get("strategy"), str) or not row["strategy"]:
        return "–"
    side = ">" if sli.direction == "upper" else "<"
    if row["strategy"] == "static":
        return f"{side} {value_text(sli, float(row['level']))} for {row['for']}"
    where = "above" if sli.direction == "upper" else "below"
    return f"{where} its {row['strategy']} band (k={row['level']:g}) for {row['for']}"


CANDIDATE_COLUMNS = [
    ("candidate", "Candidate", str), ("when", "Alerts when", str), ("ships", "Ships as", str),
    ("alerts", "Alerts", _int),
    ("false_pages_per_week", "False pages per week", _num),
    ("alert_minutes", "Alert-minutes", _int), ("flaps", "Flaps", _int),
    ("precision", "Precision", _pct), ("recall", "Recall", _pct), ("f1", "F1", _num),
    ("mean_ttd_min", "Mean time to detect", _minutes)]
CURRENT_COLUMNS = [
    ("rule", "Current rule", str), ("engine", "Evaluated by", str), ("alerts", "Alerts", _int),
    ("false_pages_per_week", "False pages per week", _num), ("recall", "Recall", _pct),
    ("f1", "F1", _num), ("mean_ttd_min", "Mean time to detect", _minutes)]
RULES_TEXT = [
    "The page budget counts false pages: alerts that match no incident, per week of the "
    "judged history. Alerts on real incidents are shown, never penalised.",
    "With incidents: among the candidates within the budget that caught at least one "
    "incident, the best F1, then the earliest mean detection, then the simplest (static, "
    "then PromQL-native bands, then exporter-served baselines; then the shorter for:; then "
    "fewer alert-minutes).",
    "If no candidate within the budget caught an incident: no recommendation, keep the "
    "current rule; nothing ships for that SLI.",
    "Without incidents: the quietest candidate that would still have fired on the SLI's "
    "worst excursion (its most extreme point) with its other alerts within the budget, or "
    "none.",
]


def summary_rows(review) -> pd.DataFrame:
    """The meeting's summary: one row per SLI with its recommendation and current rules."""
    rows = []
    for rec in review.recommendations.to_dict("records"):
        current = review.current_for(rec["sli"])
        rows.append({
            "sli": rec["sli"], "recommendation": rec["candidate"], "why": rec["why"],
            "when": alert_when(review.backtest(rec["sli"]), rec),
            "ships": rec.get("ships") or "nothing", **{k: rec.get(k, float("nan")) for k in (
                "alerts", "false_pages_per_week", "recall", "f1", "mean_ttd_min")},
            "current": "; ".join(f"{c.rule.name}: {current_line(c)}" for c in current)
            or "none given"})
    return pd.DataFrame(rows)


SUMMARY_COLUMNS = [
    ("sli", "SLI", str), ("recommendation", "Recommendation", str),
    ("when", "Alerts when", str), ("why", "Reason", str),
    ("ships", "Ships as", str), ("alerts", "Alerts", _int),
    ("false_pages_per_week", "False pages per week", _num), ("recall", "Recall", _pct),
    ("f1", "F1", _num), ("mean_ttd_min", "Mean time to detect", _minutes),
    ("current", "Current rule (same history)", str)]


def current_rows(results) -> pd.DataFrame:
    return pd.DataFrame([{"rule": r.rule.name, "engine": r.engine or f"not evaluated: "
                          f"{r.problem}", **{k: r.figures.get(k, float("nan")) for k in (
                              "alerts", "false_pages_per_week", "recall", "f1",
                              "mean_ttd_min")}} for r in results])


def shown_candidates(test: SLIBacktest, best: pd.Series | None, n: int) -> pd.DataFrame:
    """The best `n` by the recommendation's own order, the recommended row always in."""
    top = ranked(test.candidates).head(n)
    if best is not None and best["candidate"] not in set(top["candidate"]):
        top = pd.concat([top, best.to_frame().T], ignore_index=True)
    return top.assign(when=[alert_when(test, row) for row in top.to_dict("records")])


def incident_rows(test: SLIBacktest, best: pd.Series | None, current: list) -> pd.DataFrame:
    """Each judged incident: caught or missed by the recommendation and the current rules,
    and the best candidate that caught it."""
    order = ranked(test.candidates)["candidate"].tolist()
    detections = {name: quality.match(test.events[name], test.incidents).incidents
                  for name in order}
    rows = []
    for k, incident in enumerate(test.incidents):
        row = {"start": f"{incident.start:%Y-%m-%d %H:%M}", "kind": incident.kind,
               "where": ", ".join(f"{a}={b}" for a, b in sorted(incident.labels.items()))}
        row["recommended"] = _caught(detections[best["candidate"]], k) if best is not None \
            else "no recommendation"
        for result in current:
            matched = quality.match(result.events, test.incidents).incidents
            row[f"current: {result.rule.name}"] = _caught(matched, k)
        by = [name for name in order if detections[name]["detected"].iloc[k]]
        row["caught_by"] = (f"{by[0]} (and {len(by) - 1} more)" if len(by) > 1 else
                            by[0] if by else "no candidate")
        rows.append(row)
    return pd.DataFrame(rows)


def _caught(table: pd.DataFrame, k: int) -> str:
    if not table["detected"].iloc[k]:
        return "missed"
    return f"caught, {table['ttd'].iloc[k] / pd.Timedelta('1min'):.0f} min to detect"


INCIDENT_TITLES = {"start": "Incident start (UTC)", "kind": "Kind", "where": "Where",
                   "recommended": "Recommended alert",
                   "caught_by": "Best candidate that caught it (any budget)"}


# --- Markdown -------------------------------------------------------------------------


def headline(review) -> str:
    return (f"History {review.start:%Y-%m-%d %H:%M} to {review.end:%Y-%m-%d %H:%M} UTC; "
            f"{len(review.incidents)} labelled incidents; page budget "
            f"{review.page_budget:g} false pages per week per SLI; "
            f"{len(review.candidates)} candidates in {review.seconds:.1f} s."
            + (f" Data: {review.engine}." if review.engine else ""))


def summary_markdown(review, changes=None) -> str:
    lines = ["# Threshold tuning review", "", headline(review), ""]
    if review.notes:
        lines += ["## Warnings", "", *(f"- {n}" for n in review.notes), ""]
    lines += ["## How the recommendation is chosen", "", *(f"- {t}" for t in RULES_TEXT), "",
              "## Recommendations", "", _md_table(summary_rows(review), SUMMARY_COLUMNS)]
    if changes is not None:
        lines += ["", f"{len(changes)} recommendation(s) changed since the last review"
                  + (":" if changes else "."), *(f"- {sli}: {a} → {b}" for sli, a, b in changes)]
    for test in review.backtests:
        best = _best(review, test)
        lines += ["", f"## {test.sli.title}", ""]
        current = review.current_for(test.sli.key)
        if current:
            lines += [_md_table(current_rows(current), CURRENT_COLUMNS), ""]
        lines += [_md_table(shown_candidates(test, best, 5), CANDIDATE_COLUMNS)]
    return "\n".join(lines) + "\n"


def _md_table(frame: pd.DataFrame, columns) -> str:
    head = "| " + " | ".join(title for _, title, _ in columns) + " |"
    rule = "| " + " | ".join("---" for _ in columns) + " |"
    body = ["| " + " | ".join(_escape_md(fmt(row[key])) for key, _, fmt in columns) + " |"
            for _, row in frame.iterrows()]
    return "\n".join([head, rule, *body])


def _escape_md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


CSS = (".warnings{background:#fff4e5;border:1px solid #f0a030;padding:6px 12px;margin:8px 0}"
       "pre.diff{background:#f6f8fa;padding:8px;font-size:12px;white-space:pre-wrap}"
       "td[data-column=why],td[data-column=current]{text-align:left;max-width:420px}")


# --- HTML -----------------------------------------------------------------------------


def report_html(review, shipped: dict | None = None, changes=None) -> str:
    shipped = shipped or {}
    parts = [f"<style>{CSS}</style><p>{html.escape(headline(review))}</p>"]
    if review.notes:
        parts.append('<div class="warnings"><b>Warnings</b><ul>' + "".join(
            f"<li>{html.escape(n)}</li>" for n in review.notes) + "</ul></div>")
    parts += ["<h2>Recommendations</h2>",
              _html_table(summary_rows(review), SUMMARY_COLUMNS, "summary", "recommendation")]
    if changes is not None:
        parts.append(f"<p>{len(changes)} recommendation(s) changed since the last review"
                     + "".join(f"<br>{html.escape(f'{s}: {a} → {b}')}" for s, a, b in changes)
                     + "</p>")
    parts.append("<details open><summary>How the recommendation is chosen</summary><ul>"
                 + "".join(f"<li>{html.escape(t)}</li>" for t in RULES_TEXT) + "</ul></details>")
    for test in review.backtests:
        parts += _sli_section(review, test, shipped.get(test.sli.key))
    return html_page("Threshold tuning review", parts)


def _sli_section(review, test: SLIBacktest, shipped) -> list:
    best = _best(review, test)
    rec = review.recommendations.set_index("sli").loc[test.sli.key]
    current = review.current_for(test.sli.key)
    ships = f" — ships as {best['ships']}" if best is not None else ""
    parts = [f'<h2 id="{test.sli.key}">{html.escape(test.sli.title)}</h2>',
             f"<p>Recommended: <b>{html.escape(rec['candidate'])}</b>{ships} — "
             f"{html.escape(rec['why'])}</p>"]
    if current:
        parts.append(_html_table(current_rows(current), CURRENT_COLUMNS,
                                 f"current-{test.sli.key}"))
        parts += [_diff(c, best, shipped) for c in current]
    if test.incidents:
        titles = {**INCIDENT_TITLES, **{f"current: {c.rule.name}": f"Current rule "
                                        f"{c.rule.name}" for c in current}}
        table = incident_rows(test, best, current)
        parts.append(_html_table(table, [(c, titles[c], str) for c in table.columns],
                                 f"incidents-{test.sli.key}"))
    parts += [sli_figure(test, best), timeline_figure(test, best, current),
              tradeoff_figure(test, best, review.page_budget, current),
              _html_table(shown_candidates(test, best, 15), CANDIDATE_COLUMNS,
                          f"candidates-{test.sli.key}", "candidate",
                          best["candidate"] if best is not None else None)]
    return parts


def _diff(result, best, shipped) -> str:
    if best is None:
        text = f"{result.rule.name}: no recommendation — the current rule stays as it is."
    elif shipped is None:
        text = rule_diff(result.rule, None).rstrip() + (
            f"\n# {best['candidate']} ships through the baseline exporter")
    else:
        text = rule_diff(result.rule, shipped.alert.as_dict()) or (
            f"{result.rule.name}: the recommended rule is the current one, unchanged.")
    return f"<pre class=\"diff\">{html.escape(text)}</pre>"


def _html_table(frame: pd.DataFrame, columns, table_id: str, key: str | None = None,
                highlight: str | None = None) -> str:
    head = "".join(f"<th>{html.escape(title)}</th>" for _, title, _ in columns)
    rows = []
    for _, row in frame.iterrows():
        mark = ' class="recommended"' if highlight and row.get(key) == highlight else ""
        name = f' data-key="{html.escape(str(row[key]))}"' if key else ""
        cells = "".join(f'<td data-column="{c}">{html.escape(fmt(row[c]))}</td>'
                        for c, _, fmt in columns)
        rows.append(f"<tr{mark}{name}>{cells}</tr>")
    return f'<table id="{table_id}"><tr>{head}</tr>{"".join(rows)}</table>'
