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
from ..alerting.rule_tests import unit_test_file
from ..alerting.rules import alert_groups
from ..exporter import DEFAULT_PORT, save_baselines
from ..exporter.scrape import exporter_down_alert, exporter_down_case, scrape_config
from ..plots import html_page, series_figure, tradeoff_figure
from ..rulefiles import dump_rules, write_text_atomic
from .backtest import SLIBacktest
from .shipping import Shipped, ship

ALERTS_FILE = "im-alerts.rules.yml"
BASELINE_RULES_FILE = "im-baselines.rules.yml"
ALERT_TESTS_FILE = "im-alerts.rules.test.yml"
BASELINES_DIR = "baselines"
SCRAPE_FILE = "exporter-scrape.yml"
TABLE_COLUMNS = ["candidate", "alerts", "alert_minutes", "pages_per_week", "flaps",
                 "precision", "recall", "f1", "mean_ttd_min"]
MAX_BANDS = 12  # per SLI figure: each band is two traces of data in the page


def write_review(review, out: Path, settings: AlertmanagerSettings | None = None
                 ) -> dict[str, Path]:
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
    texts = {
        "report": report_html(review),
        "summary": summary_markdown(review),
        "candidates": review.candidates.to_csv(index=False, float_format="%.6g"),
        "alerts": dump_rules(alert_groups([a for a, _ in _alerts(shipped)])),
        "baseline_rules": dump_rules([g for s in shipped for g in s.recording_groups]),
        "alert_tests": unit_test_file([ALERTS_FILE], [c for _, cases in _alerts(shipped)
                                                      for c in cases]),
        "alertmanager": dump_config(settings),
        "template": message_template(),
    }
    for key, path in files.items():
        write_text_atomic(path, texts[key])
    return {**files, **_write_exporter_files(shipped, out)}


def _ship_all(review) -> list[Shipped]:
    shipped = []
    for row in review.recommendations.itertuples(index=False):
        test = review.backtest(row.sli)
        chosen = test.candidates[test.candidates["candidate"] == row.candidate].iloc[0]
        shipped.append(ship(test, chosen))
    return shipped


def _alerts(shipped: list[Shipped]) -> list:
    """(alert, its promtool cases) for each shipped alert, and for the exporter's health
    when anything ships through it."""
    alerts = [(s.alert, s.cases) for s in shipped]
    if any(s.baselines for s in shipped):
        down = exporter_down_alert()
        alerts.append((down, [exporter_down_case(down)]))
    return alerts


def _write_exporter_files(shipped: list[Shipped], out: Path) -> dict[str, Path]:
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


# --- Markdown -------------------------------------------------------------------------


def summary_markdown(review) -> str:
    lines = [
        "# Threshold tuning review",
        "",
        f"History {review.start:%Y-%m-%d %H:%M} to {review.end:%Y-%m-%d %H:%M} UTC; "
        f"{len(review.incidents)} labelled incidents; page budget "
        f"{review.page_budget:g} pages per week per SLI; "
        f"{len(review.candidates)} candidates in {review.seconds:.1f} s.",
        "",
        "## Recommendations",
        "",
        _md_table(review.recommendations, ["sli", "candidate", "pages_per_week", "precision",
                                           "recall", "f1", "mean_ttd_min", "why"]),
    ]
    for test in review.backtests:
        top = _ranked(test.candidates).head(5)
        lines += ["", f"## {test.sli.title}", "", _md_table(top, TABLE_COLUMNS)]
    return "\n".join(lines) + "\n"


def _md_table(frame: pd.DataFrame, columns: list[str]) -> str:
    head = "| " + " | ".join(columns) + " |"
    rule = "| " + " | ".join("---" for _ in columns) + " |"
    body = ["| " + " | ".join(_cell(row[c]) for c in columns) + " |"
            for _, row in frame.iterrows()]
    return "\n".join([head, rule, *body])


def _cell(value) -> str:
    if isinstance(value, float):
        return "–" if pd.isna(value) else f"{value:.3g}"
    return str(value).replace("|", "\\|")


def _ranked(candidates: pd.DataFrame) -> pd.DataFrame:
    return candidates.sort_values(["f1", "pages_per_week"], ascending=[False, True],
                                  na_position="last")


# --- HTML -----------------------------------------------------------------------------


def report_html(review) -> str:
    parts = [f"<p>{html.escape(summary_markdown(review).splitlines()[2])}</p>",
             _html_table(review.recommendations, ["sli", "candidate", "pages_per_week",
                                                  "precision", "recall", "f1",
                                                  "mean_ttd_min", "why"])]
    for test in review.backtests:
        best = review.recommendations.set_index("sli").loc[test.sli.key]
        parts += [f"<h2>{html.escape(test.sli.title)}</h2>",
                  f"<p>Recommended: <b>{html.escape(best['candidate'])}</b> — "
                  f"{html.escape(best['why'])}</p>",
                  _sli_figure(test, best),
                  tradeoff_figure(test.candidates, f"{test.sli.title}: pages vs recall"),
                  _html_table(_ranked(test.candidates).head(15), TABLE_COLUMNS,
                              highlight=best["candidate"])]
    return html_page("Threshold tuning review", parts)


def _sli_figure(test: SLIBacktest, best: pd.Series):
    frame = test.frame[test.frame.index >= test.evaluated_from]
    events = test.events[best["candidate"]]
    bands, k = {}, float(best["level"])
    strategy_bands = test.bands.get(best["strategy"]) or {}
    for column in _most_alerted(list(strategy_bands), events)[:MAX_BANDS]:
        band = strategy_bands[column]
        centre = band["centre"]
        bands[column] = pd.DataFrame({"lower": centre + k * (band["lower"] - centre),
                                      "upper": centre + k * (band["upper"] - centre)}
                                     ).loc[frame.index]
    incidents = pd.DataFrame({"start": [i.start for i in test.incidents],
                              "end": [i.end for i in test.incidents]})
    threshold = float(best["level"]) if best["strategy"] == "static" else None
    return series_figure(frame, test.sli.title, test.sli.unit, bands, events, incidents,
                         threshold)


def _most_alerted(columns: list[str], events: pd.DataFrame) -> list[str]:
    """Series with the most alerts first (their bands are what a reviewer checks)."""
    counts = events["series"].value_counts() if len(events) else pd.Series(dtype=int)
    return sorted(columns, key=lambda c: -int(counts.get(c, 0)))  # stable: ties keep order


def _html_table(frame: pd.DataFrame, columns: list[str], highlight: str | None = None) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    rows = []
    for _, row in frame.iterrows():
        mark = ' class="recommended"' if highlight and row.get("candidate") == highlight else ""
        cells = "".join(f"<td>{html.escape(_cell(row[c]))}</td>" for c in columns)
        rows.append(f"<tr{mark}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"
