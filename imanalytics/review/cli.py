"""`python -m imanalytics review-thresholds`: run a review, write it, say where it is."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from ..catalog import load_catalog
from ..errors import ImanalyticsError
from ..sandbox.incidents import read_incidents
from .backtest import STRATEGIES
from .current import current_line, load_rule_files, server_rules
from .run import Review, history_span, review_thresholds

STATE_FILE = "recommendations.json"


def run_review_command(args) -> int:
    url = args.url or os.environ.get("PROMETHEUS_URL")
    if not url:
        raise ImanalyticsError("no Prometheus URL: pass --url or set PROMETHEUS_URL "
                               "(`python -m imanalytics sandbox` serves simulated data)")
    out = writable(Path(args.out))
    history_span(url, args.since, args.until)  # refused here, before any network call
    incidents = read_incidents(args.incidents) if args.incidents else []
    rules = load_rule_files(args.current_rules or [])
    if args.server_rules:
        from ..source import PromSource

        rules += server_rules(PromSource(url))
    review = review_thresholds(
        url, args.since, args.until, incidents=incidents, catalog=load_catalog(args.catalog),
        sli_keys=_split(args.slis), strategies=_split(args.strategies) or tuple(STRATEGIES),
        page_budget=args.page_budget, engine=args.engine, current_rules=rules)
    report(review, out, args.pushgateway)
    return 0


def writable(out: Path) -> Path:
    """`out`, created if needed, after checking a file can be written there."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise ImanalyticsError(f"--out {out}: cannot write there ({exc.strerror or exc})"
                               ) from None
    return out


def report(review: Review, out: Path, pushgateway: str | None = None) -> dict[str, Path]:
    """Write the review, print the recommendations, warnings and where the files are."""
    changes = changed(review, out / STATE_FILE)
    files = review.write(out, changes=changes)
    _save_state(review, out / STATE_FILE)
    print(review.recommendations[["sli", "candidate", "ships", "false_pages_per_week",
                                  "recall", "f1"]].to_string(index=False))
    for result in review.current:
        print(f"current rule {result.rule.name} ({result.sli}): {current_line(result)}")
    for note in review.notes:
        print(f"warning: {note}")
    print(f"\n{len(changes)} recommendation(s) changed since the last review"
          + "".join(f"\n  {sli}: {before} → {after}" for sli, before, after in changes))
    print(f"report: {files['report']}")
    print(f"summary: {files['summary']} and {files['candidates']}")
    print(f"alert rules: {files['alerts']} (+ {files['baseline_rules'].name}, "
          f"tests in {files['alert_tests'].name}); Alertmanager: {files['alertmanager']}")
    if "baselines" in files:
        print(f"baselines for the exporter: {files['baselines']} (python -m imanalytics "
              f"serve-baselines --baselines {files['baselines']} --prometheus URL; scrape "
              f"job in {files['scrape_config'].name})")
    if pushgateway:
        _push(review, pushgateway, len(changes))
        print(f"run metrics pushed to {pushgateway}")
    if review.engine:
        print(f"engine: {review.engine}")
    print(f"reviewed {len(review.backtests)} SLIs, {len(review.candidates)} candidates over "
          f"{review.start:%Y-%m-%d %H:%M} .. {review.end:%Y-%m-%d %H:%M} UTC in "
          f"{review.seconds:.1f} s")
    return files


def _split(text: str | None) -> list[str] | None:
    return [part.strip() for part in text.split(",") if part.strip()] if text else None


def changed(review: Review, state: Path) -> list[tuple[str, str, str]]:
    """(SLI, before, after) for each recommendation that differs from the last review's."""
    try:
        before = json.loads(state.read_text()) if state.exists() else {}
    except ValueError:
        before = {}
    now = dict(zip(review.recommendations["sli"], review.recommendations["candidate"],
                   strict=True))
    return [(sli, before.get(sli, "(not reviewed)"), after) for sli, after in now.items()
            if before.get(sli) != after]


def _save_state(review: Review, state: Path) -> None:
    from ..rules.files import write_text_atomic

    chosen = dict(zip(review.recommendations["sli"], review.recommendations["candidate"],
                      strict=True))
    write_text_atomic(state, json.dumps(chosen, indent=2, sort_keys=True) + "\n")


def _push(review: Review, url: str, changed: int) -> None:
    from ..pushgateway import push_run_metrics

    push_run_metrics(url, "imanalytics_review", {
        "imanalytics_review_duration_seconds": (review.seconds, "Time the review took."),
        "imanalytics_review_candidates_evaluated": (
            float(len(review.candidates)), "Candidate alerts backtested."),
        "imanalytics_review_recommendations_changed": (
            float(changed), "SLIs whose recommended alert changed since the last review."),
        "imanalytics_review_last_success_timestamp_seconds": (
            time.time(), "When the review last finished."),
    })
