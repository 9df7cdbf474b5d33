"""The functions the local evaluator knows: argument and return types (Prometheus' parser
rejects calls that do not fit), and which of them it evaluates."""

from __future__ import annotations

from dataclasses import dataclass

# The value types of PromQL, as Prometheus' errors name them.
SCALAR, VECTOR, MATRIX, STRING = "scalar", "instant vector", "range vector", "string"


@dataclass(frozen=True)
class Signature:
    args: tuple[str, ...]
    returns: str
    variadic: int = 0  # how many trailing arguments may be omitted (Prometheus' Variadic > 0)


RANGE_FUNCTIONS = (
    "rate", "increase", "irate", "delta", "idelta", "resets", "changes", "avg_over_time",
    "sum_over_time", "min_over_time", "max_over_time", "count_over_time", "stddev_over_time",
    "stdvar_over_time", "last_over_time", "present_over_time", "absent_over_time",
    "mad_over_time", "deriv",
)
VALUE_FUNCTIONS = (
    "abs", "ceil", "floor", "exp", "sqrt", "ln", "log2", "log10", "sin", "cos", "tan", "asin",
    "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "sgn", "deg", "rad",
    "timestamp", "sort", "sort_desc", "histogram_count", "histogram_sum", "histogram_avg",
    "histogram_stddev", "histogram_stdvar",
)
DATE_FUNCTIONS = ("minute", "hour", "day_of_week", "day_of_month", "day_of_year", "month",
                  "year", "days_in_month")
MANY = -1  # variadic: any number of further arguments of the last argument's type

FUNCTIONS: dict[str, Signature] = {
    **{name: Signature((MATRIX,), VECTOR) for name in RANGE_FUNCTIONS},
    **{name: Signature((VECTOR,), VECTOR) for name in VALUE_FUNCTIONS},
    **{name: Signature((VECTOR,), VECTOR, variadic=1) for name in DATE_FUNCTIONS},
    "quantile_over_time": Signature((SCALAR, MATRIX), VECTOR),
    "predict_linear": Signature((MATRIX, SCALAR), VECTOR),
    "holt_winters": Signature((MATRIX, SCALAR, SCALAR), VECTOR),
    "double_exponential_smoothing": Signature((MATRIX, SCALAR, SCALAR), VECTOR),
    "histogram_quantile": Signature((SCALAR, VECTOR), VECTOR),
    "histogram_fraction": Signature((SCALAR, SCALAR, VECTOR), VECTOR),
    "clamp": Signature((VECTOR, SCALAR, SCALAR), VECTOR),
    "clamp_min": Signature((VECTOR, SCALAR), VECTOR),
    "clamp_max": Signature((VECTOR, SCALAR), VECTOR),
    "round": Signature((VECTOR, SCALAR), VECTOR, variadic=1),
    "vector": Signature((SCALAR,), VECTOR),
    "scalar": Signature((VECTOR,), SCALAR),
    "label_replace": Signature((VECTOR, STRING, STRING, STRING, STRING), VECTOR),
    "label_join": Signature((VECTOR, STRING, STRING, STRING), VECTOR, variadic=MANY),
    "sort_by_label": Signature((VECTOR, STRING), VECTOR, variadic=MANY),
    "sort_by_label_desc": Signature((VECTOR, STRING), VECTOR, variadic=MANY),
    "absent": Signature((VECTOR,), VECTOR),
    "time": Signature((), SCALAR),
    "pi": Signature((), SCALAR),
}

# Functions on native histograms alone: float samples give them nothing to return.
HISTOGRAM_ONLY = {"histogram_count", "histogram_sum", "histogram_avg", "histogram_stddev",
                  "histogram_stdvar", "histogram_fraction"}

# Valid PromQL that this evaluator refuses by name (the parser still knows their arity so a
# misspelt call is a syntax error, not a refusal).
REFUSED_FUNCTIONS = {"info"}
