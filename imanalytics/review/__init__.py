"""Threshold tuning reviews: backtest candidate alerts per IM SLI, recommend one each within
a page budget, and ship the winners as Prometheus alert rules with promtool tests."""

from .backtest import EXPORTABLE, STRATEGIES, Candidate, SLIBacktest, backtest
from .recommend import DEFAULT_PAGE_BUDGET, recommend
from .run import Review, ReviewError, review_thresholds

__all__ = [
    "DEFAULT_PAGE_BUDGET",
    "EXPORTABLE",
    "STRATEGIES",
    "Candidate",
    "Review",
    "ReviewError",
    "SLIBacktest",
    "backtest",
    "recommend",
    "review_thresholds",
]
