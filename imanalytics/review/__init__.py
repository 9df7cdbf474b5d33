"""Threshold tuning reviews: backtest candidate alerts per IM SLI, recommend one each within
a false-page budget (or keep the current rule), compare with the rules running today, and
ship the winners as Prometheus alert rules with promtool tests."""

from .backtest import EXPORTABLE, STRATEGIES, Candidate, SLIBacktest, backtest
from .current import load_rule_files, server_rules
from .recommend import DEFAULT_PAGE_BUDGET, KEEP, recommend
from .run import Review, ReviewError, review_thresholds

__all__ = [
    "DEFAULT_PAGE_BUDGET",
    "EXPORTABLE",
    "KEEP",
    "STRATEGIES",
    "Candidate",
    "Review",
    "ReviewError",
    "SLIBacktest",
    "backtest",
    "load_rule_files",
    "recommend",
    "review_thresholds",
    "server_rules",
]
