"""`python -m imanalytics review-thresholds`: run a review, write it, say where it is."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..catalog import load_catalog
from ..errors import ImanalyticsError
from ..sandbox.incidents import read_incidents
from .backtest import STRATEGIES
from .run import Review, review_thresholds

STATE_FILE = "recommendations.json"


def run_review_command(args) -> int:
    url = args.url or os.environ.get("PROMETHEUS_URL")
    if not url:
        raise ImanalyticsError("no Prometheus URL: pass --url or set PROMETHEUS_URL "
                               "(`python -m imanalytics sandbox` serves simulated data)")
    incidents = read_incidents(args.incidents) if args.incidents else []
    review = review_thresholds(
        url, args.since, args.until, incidents=incidents, catalog=load_catalog(args.catalog),
        sli_keys=_split(args.slis), strategies=_split(args.strategies) or tuple(STRATEGIES),
        page_budget=args.page_budget, engine=args.engine)
    report(review, Path(args.out), args.pushgateway)
    return 0


def report(review: Review, out: Path, pushgateway: str | None = None) -> dict[str, Path]:
    """Write the review, print the recommendations and where the files are; push metrics."""
    changed = _changed(review, out / STATE_FILE)
    files = review.write(out)
    _save_state(review, out / STATE_FILE)
    print(review.recommendations[["sli", "candidate", "pages_per_week", "recall", "f1"]]
          .to_string(index=False))
    print(f"\n{len(review.candidates)} candidates over {review.start:%Y-%m-%d} .. "
          f"{review.end:%Y-%m-%d} in {review.seconds:.1f}s; {changed} recommendation(s) "
          "changed since the last review")
    print(f"report: {files['report']}")
    print(f"summary: {files['summary']} and {files['candidates']}")
    print(f"alert rules: {files['alerts']} (+ {files['baseline_rules'].name}, "
          f"tests in {files['alert_tests'].name}); Alertmanager: {files['alertmanager']}")
    if "baselines" in files:
        print(f"baselines for the exporter: {files['baselines']} (python -m imanalytics "
              f"serve-baselines --baselines {files['baselines']} --prometheus URL; scrape "
              f"job in {files['scrape_config'].name})")
    if pushgateway:
        _push(review, pushgateway, changed)
        print(f"run metrics pushed to {pushgateway}")
    return files


def _split(text: str | None) -> list[str] | None:
    return [part.strip() for part in text.split(",") if part.strip()] if text else None


def _changed(review: Review, state: Path) -> int:
    if not state.exists():
        return len(review.recommendations)
    try:
        before = json.loads(state.read_text())
    except ValueError:
        return len(review.recommendations)
    now = dict(zip(review.recommendations["sli"], review.recommendations["candidate"],
                   strict=True))
    return sum(before.get(sli) != candidate for sli, candidate in now.items())


def _save_state(review: Review, state: Path) -> None:
    from ..rulefiles import write_text_atomic

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
