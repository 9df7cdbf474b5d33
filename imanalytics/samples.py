"""Raw samples: the common currency of the simulator, the pull layer and the evaluator.

A `Series` is one Prometheus time series: its full label set (``__name__``
included), sample timestamps in integer milliseconds since the epoch, and float64
values. Timestamps are strictly increasing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

NAME = "__name__"


@dataclass(frozen=True, eq=False)
class Series:
    labels: dict[str, str]
    t: np.ndarray  # int64 milliseconds, strictly increasing
    v: np.ndarray  # float64
    key: tuple = field(init=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "key", label_key(self.labels))

    @property
    def name(self) -> str:
        return self.labels.get(NAME, "")

    def __len__(self) -> int:
        return len(self.t)

    def __repr__(self) -> str:
        return f"Series({format_series(self.labels)}, {len(self)} samples)"


def label_key(labels: dict[str, str]) -> tuple:
    """A hashable, order-independent identity for a label set."""
    return tuple(sorted(labels.items()))


def format_series(labels: dict[str, str]) -> str:
    """Prometheus text form: ``name{a="1",b="2"}`` with labels sorted by name."""
    name = labels.get(NAME, "")
    rest = sorted((k, v) for k, v in labels.items() if k != NAME)
    if not rest:
        return name or "{}"
    inner = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in rest)
    return f"{name}{{{inner}}}"


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
