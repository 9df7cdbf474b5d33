"""Version-dependent PromQL behaviour, one flag per change, named after what it switches.

Each flag records the Prometheus release that introduced the change (see `CHANGES`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import PromQLError

# The first version with each new behaviour: flag -> what changed.
_SINCE: dict[str, dict[str, str]] = {
    "2.49.0": {
        "bucket_small_delta_tolerance":
            "histogram_quantile ignores relative bucket-count differences below 1e-12 before "
            "forcing monotonicity (ensureMonotonicAndIgnoreSmallDeltas, prometheus#13153)",
    },
    "2.51.0": {
        "rate_zero_point_after_threshold":
            "rate/increase limit extrapolation to the counter's zero point after choosing "
            "between full and half-interval extrapolation (extrapolatedRate, prometheus#13725)",
    },
    "2.53.0": {
        "kahan_sum_aggregation":
            "sum() uses Kahan-Neumaier summation; kahanSumInc zeroes the compensation on "
            "overflow to ±Inf (prometheus#14074)",
        "atan2_drops_name":
            "atan2 drops the metric name like the other arithmetic operators (first seen here "
            "in the 2.53.0 test files; 2.42.0 keeps it)",
    },
    "2.54.0": {
        "direct_mean":
            "avg() and avg_over_time() sum with Kahan compensation and divide, switching to an "
            "incremental mean only when the sum would overflow (prometheus#14413)",
    },
    "3.0.0": {
        "lookback_left_open":
            "instant selectors ignore a sample exactly lookback-delta old: window (t-5m, t]",
        "range_left_open":
            "range selectors are left-open: [5m] selects (t-5m, t] instead of [t-5m, t]",
        "numbers_as_durations":
            "a plain number is accepted where a duration is expected (x[100], offset 50, "
            "[30:10]), in seconds",
        "stddev_nan_on_non_finite":
            "stddev/stdvar of a group holding NaN or ±Inf is NaN (prometheus#14941)",
        "holt_winters_renamed":
            "holt_winters is removed; double_exponential_smoothing takes its place",
        "sort_by_label_full_tiebreak":
            "sort_by_label breaks ties by the full label set instead of keeping sort() order",
        "regex_dot_matches_newline": "'.' in label-matcher regexes matches newlines too",
    },
}

KNOWN_VERSIONS = ("2.42.0", *_SINCE)


def parse_version(version: str) -> tuple[int, int, int]:
    parts = version.strip().lstrip("v").split("+")[0].split("-")[0].split(".")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        raise PromQLError(f"not a Prometheus version: {version!r}") from None
    if not 1 <= len(numbers) <= 3 or numbers[0] not in (2, 3):
        raise PromQLError(f"not a Prometheus 2.x or 3.x version: {version!r}")
    return tuple((numbers + [0, 0])[:3])


# flag -> (first version with the new behaviour, what changed)
CHANGES: dict[str, tuple[tuple[int, int, int], str]] = {
    flag: (parse_version(version), what)
    for version, flags in _SINCE.items() for flag, what in flags.items()
}


@dataclass(frozen=True)
class Semantics:
    """Behaviour switches of one Prometheus version; build with `Semantics.for_version`."""

    version: str = "2.42.0"
    bucket_small_delta_tolerance: bool = False
    rate_zero_point_after_threshold: bool = False
    kahan_sum_aggregation: bool = False
    direct_mean: bool = False
    lookback_left_open: bool = False
    range_left_open: bool = False
    regex_dot_matches_newline: bool = False
    atan2_drops_name: bool = False
    sort_by_label_full_tiebreak: bool = False
    numbers_as_durations: bool = False
    # Prometheus' feature flag promql-delayed-name-removal (3.0, off by default; its own
    # test harness turns it on): not a version change, so set it with dataclasses.replace.
    delayed_name_removal: bool = False
    stddev_nan_on_non_finite: bool = False
    holt_winters_renamed: bool = False

    @classmethod
    def for_version(cls, version: str) -> Semantics:
        parsed = parse_version(version)
        flags = {name: parsed >= since for name, (since, _) in CHANGES.items()}
        return cls(version=version, **flags)

    @classmethod
    def coerce(cls, value: Semantics | str) -> Semantics:
        return value if isinstance(value, Semantics) else cls.for_version(value)

    def changes(self) -> dict[str, bool]:
        """The version-dependent switches (feature flags such as delayed_name_removal aside)."""
        return {name: getattr(self, name) for name in CHANGES}

