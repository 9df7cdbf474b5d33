"""Dynamic baselines and anomaly scores for IM SLIs.

Estimators follow scikit-learn's contract (`fit` returns self, learned state ends in ``_``,
`get_params`/`set_params`/`clone`). Each takes an SLI series — a rate, ratio, quantile or
gauge on a tz-aware DatetimeIndex, never a raw counter — and offers
``predict_bands(index, sensitivity=None)`` (lower/centre/upper), ``score(series)``
(causal anomaly scores in [0, 1]) and a `default_threshold` (0.5: the band edge).

- `SeasonalProfile`: median/MAD per slot of the week or day, trend-adjusted; many series
  at once from a wide DataFrame.
- `WeekOverWeekZScore`, `AdaptiveBand`: PromQL-native, exported with `.to_rules(sli)`.
- `STLBands`: statsmodels STL residual bands.
- `QuantileGBM`: quantile gradient boosting on calendar features.
- `MultiSLIIsolationForest`: several SLIs of one service together.
- `auto(series)`: picks and fits one for a series of unknown shape.

`OnlineScorer.update` and `walk_forward` score a live stream causally, refitting as it
grows; `nab` scores detections the Numenta Anomaly Benchmark's way.
`AlertPolicy` turns scores into alert events, `quality` measures them against incidents,
`save`/`load` persist fitted estimators.
"""

from . import quality
from .auto import Choice, auto, choose
from .base import Baseline
from .checks import (
    BaselineError,
    BaselineInputError,
    BaselineWarning,
    ConstantSeriesWarning,
    CounterInputError,
    GapWarning,
    IrregularSamplingWarning,
    NonFiniteWarning,
    NotFittedBaselineError,
    ShortHistoryError,
)
from .decomposition import STLBands
from .models import MultiSLIIsolationForest, QuantileGBM
from .online import OnlineScorer, walk_forward
from .persistence import PersistenceError, load, save
from .policy import AlertPolicy
from .promql_native import AdaptiveBand, PromQLScheme, WeekOverWeekZScore
from .seasonal import SeasonalProfile

__all__ = [
    "AdaptiveBand",
    "AlertPolicy",
    "Baseline",
    "BaselineError",
    "BaselineInputError",
    "BaselineWarning",
    "Choice",
    "ConstantSeriesWarning",
    "CounterInputError",
    "GapWarning",
    "IrregularSamplingWarning",
    "MultiSLIIsolationForest",
    "NonFiniteWarning",
    "NotFittedBaselineError",
    "OnlineScorer",
    "PersistenceError",
    "PromQLScheme",
    "QuantileGBM",
    "STLBands",
    "SeasonalProfile",
    "ShortHistoryError",
    "WeekOverWeekZScore",
    "auto",
    "choose",
    "load",
    "quality",
    "save",
    "walk_forward",
]
