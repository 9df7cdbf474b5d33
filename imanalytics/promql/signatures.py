"""The functions the local evaluator knows: argument and return types (Prometheus' parser
rejects calls that do not fit), and which of them it evaluates."""

from __future__ import annotations

from dataclasses import dataclass

from .ast import MATRIX, SCALAR, STRING, VECTOR


@dataclass(frozen=True)
class Signature:
    args: tuple[str, ...]
    returns: str
    variadic: int = 0  # how many trailing arguments may be omitted (Prometheus' Variadic > 0)


RANGE_FUNCTIONS = (
    "rate", "increase", "irate", "delta", "idelta", "resets", "changes", "avg_over_time",
    "sum_over_time", "min_over_time", "max_over_time", "count_over_time", "stddev_over_time",
    "stdvar_over_time", "last_over_time",
)

FUNCTIONS: dict[str, Signature] = {
    **{name: Signature((MATRIX,), VECTOR) for name in RANGE_FUNCTIONS},
    "quantile_over_time": Signature((SCALAR, MATRIX), VECTOR),
    "histogram_quantile": Signature((SCALAR, VECTOR), VECTOR),
    "clamp_min": Signature((VECTOR, SCALAR), VECTOR),
    "clamp_max": Signature((VECTOR, SCALAR), VECTOR),
    "abs": Signature((VECTOR,), VECTOR),
    "vector": Signature((SCALAR,), VECTOR),
    "scalar": Signature((VECTOR,), SCALAR),
    "label_replace": Signature((VECTOR, STRING, STRING, STRING, STRING), VECTOR),
    "absent": Signature((VECTOR,), VECTOR),
    "time": Signature((), SCALAR),
}

# Valid PromQL that this evaluator refuses by name (the parser still knows their arity so a
# misspelt call is a syntax error, not a refusal).
REFUSED_FUNCTIONS = {
    "absent_over_time", "present_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh",
    "ceil", "clamp", "cos", "cosh", "days_in_month", "day_of_month",
    "day_of_week", "day_of_year", "deg", "deriv", "exp", "floor", "histogram_count",
    "histogram_sum", "histogram_fraction", "histogram_stddev", "histogram_stdvar",
    "histogram_avg", "holt_winters", "double_exponential_smoothing", "hour", "label_join", "ln",
    "log10", "log2", "mad_over_time", "minute", "month", "pi", "predict_linear", "rad", "round",
    "sgn", "sin", "sinh", "sort", "sort_desc", "sort_by_label", "sort_by_label_desc", "sqrt",
    "tan", "tanh", "timestamp", "year", "info",
}
