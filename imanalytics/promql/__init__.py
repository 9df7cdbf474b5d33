"""Local PromQL evaluation with Prometheus' exact semantics, for the recording-rule subset.

`evaluate(expr, series, start, end, step)` returns what ``/api/v1/query_range`` would, as a
wide frame; `evaluate_many` does so for several expressions sharing their work; `Semantics`
pins the Prometheus version whose behaviour is reproduced.
"""

from .ast import Node
from .errors import (
    EvaluationError,
    PromQLError,
    PromQLSyntaxError,
    QueryTooLargeError,
    UnsupportedError,
)
from .evaluator import evaluate, evaluate_instant, evaluate_many, evaluate_result
from .parser import parse
from .semantics import CHANGES, Semantics

__all__ = [
    "CHANGES",
    "EvaluationError",
    "Node",
    "PromQLError",
    "PromQLSyntaxError",
    "QueryTooLargeError",
    "Semantics",
    "UnsupportedError",
    "evaluate",
    "evaluate_instant",
    "evaluate_many",
    "evaluate_result",
    "parse",
]
