"""Errors of the local PromQL evaluator; each message names the expression at fault."""

from __future__ import annotations

from ..errors import ImanalyticsError


class PromQLError(ImanalyticsError):
    """Any problem with a PromQL expression: syntax, typing, refusal or evaluation."""


class PromQLSyntaxError(PromQLError):
    """The expression does not parse or does not type-check (as Prometheus would reject it)."""

    def __init__(self, message: str, expr: str, pos: int):
        self.expr, self.pos = expr, pos
        super().__init__(f"syntax error at position {pos + 1} in {expr!r}: {message}")


class UnsupportedError(PromQLError):
    """Valid PromQL that the local evaluator refuses rather than risk a wrong answer."""

    def __init__(self, construct: str, expr: str):
        self.construct, self.expr = construct, expr
        super().__init__(f"unsupported in local evaluation: {construct} in {expr!r}")


class EvaluationError(PromQLError):
    """An error Prometheus raises while evaluating (matching conflicts, duplicate series)."""

    def __init__(self, message: str, expr: str):
        self.expr = expr
        super().__init__(f"{message} (evaluating {expr!r})")


class QueryTooLargeError(PromQLError):
    """The expression would build more points than the configured limit (checked before any
    evaluation, like Prometheus' --query.max-samples)."""
