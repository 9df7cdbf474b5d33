"""Evaluated values over the whole step grid at once.

A `Vector` holds every series an instant-vector expression yields at any step: one row per
label set, values and a presence mask of shape (series, steps). A `Scalar` has one value per
step. This is Prometheus' range-evaluation Matrix laid out as arrays.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np

from ..samples import NAME, label_key
from .errors import EvaluationError

DUPLICATE_LABELSET = "vector cannot contain metrics with the same labelset"


@dataclass
class Scalar:
    values: np.ndarray  # (steps,)


@dataclass
class Vector:
    labels: list[dict[str, str]]
    values: np.ndarray  # (series, steps) float64
    present: np.ndarray  # (series, steps) bool

    @classmethod
    def empty(cls, steps: int) -> Vector:
        return cls([], np.empty((0, steps)), np.zeros((0, steps), dtype=bool))

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, rows) -> Vector:
        rows = np.asarray(rows, dtype=np.intp)
        return Vector([self.labels[i] for i in rows], self.values[rows], self.present[rows])

    def nonempty(self) -> Vector:
        """Drop series without any point (Prometheus never holds them)."""
        keep = self.present.any(axis=1)
        return self if keep.all() else self.take(np.flatnonzero(keep))


# With delayed name removal (3.0's promql-delayed-name-removal), a dropped metric name is
# kept under this key until the query ends: it still tells series apart and label_replace
# can read it; `finish_names` removes it.
DROPPED_NAME = "__name__\x00dropped"
DELAYED_NAME_REMOVAL: ContextVar[bool] = ContextVar("delayed_name_removal", default=False)


def drop_name(labels: dict[str, str]) -> dict[str, str]:
    if NAME not in labels:
        return labels
    out = {k: v for k, v in labels.items() if k != NAME}
    if DELAYED_NAME_REMOVAL.get():
        out[DROPPED_NAME] = labels[NAME]
    return out


def metric_name(labels: dict[str, str]) -> str:
    """The metric name, dropped or not (what label_replace and label_join read)."""
    return labels.get(NAME, labels.get(DROPPED_NAME, ""))


def finish_names(vector: Vector, expr: str) -> Vector:
    """The end of a query with delayed name removal: dropped names go for good."""
    if not any(DROPPED_NAME in ls for ls in vector.labels):
        return vector
    labels = [{k: v for k, v in ls.items() if k != DROPPED_NAME} for ls in vector.labels]
    return merge_by_labelset(Vector(labels, vector.values, vector.present), expr)


def merge_by_labelset(vector: Vector, expr: str) -> Vector:
    """Assemble per-step results into series the way rangeEval does.

    Samples with equal label sets at different steps become one series; equal label sets at
    the same step are Prometheus' "vector cannot contain metrics with the same labelset".
    """
    vector = vector.nonempty()
    groups: dict[tuple, list[int]] = {}
    for row, labels in enumerate(vector.labels):
        groups.setdefault(label_key(labels), []).append(row)
    if len(groups) == len(vector):
        return vector
    labels, values, present = [], [], []
    for rows in groups.values():
        mask = vector.present[rows]
        if (mask.sum(axis=0) > 1).any():
            raise EvaluationError(DUPLICATE_LABELSET, expr)
        labels.append(vector.labels[rows[0]])
        source = mask.argmax(axis=0)
        values.append(vector.values[rows][source, np.arange(mask.shape[1])])
        present.append(mask.any(axis=0))
    return Vector(labels, np.array(values), np.array(present))


def require_unique_labelsets(vector: Vector, expr: str) -> Vector:
    """Matrix-wide check (Matrix.ContainsSameLabelset), used after range functions."""
    vector = vector.nonempty()
    keys = {label_key(labels) for labels in vector.labels}
    if len(keys) != len(vector):
        raise EvaluationError(DUPLICATE_LABELSET, expr)
    return vector
