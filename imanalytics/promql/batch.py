"""What the expressions of one evaluation batch share: the indexed data, the sample-index
lookups of each timeline (range-window bounds, lookback choices), and the values of
subexpressions that occur more than once.

Recording rules and their threshold variants repeat themselves: the same selectors, the same
``rate(x[5m])`` under different aggregations, the same bucket rates under p50, p90 and p99.
Sharing these is exact (every value is computed by the same code, only once).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from ..samples import Series
from . import ast
from .selectors import Bounds, Store, Timelines, lookback_index, window_bounds
from .semantics import Semantics

# Nodes not worth remembering: literals are cheap, matrix selectors are read by their call.
_NOT_REMEMBERED = (ast.NumberLiteral, ast.StringLiteral, ast.MatrixSelector)


class Batch:
    """One grid, version and lookback for a set of expressions, and the work they share."""

    def __init__(self, data: Sequence[Series], steps: np.ndarray, sem: Semantics,
                 lookback_ms: int, trees: Iterable[ast.Node]):
        self.store = data if isinstance(data, Store) else Store(data)
        self.steps = steps
        self.sem = sem
        self.lookback_ms = lookback_ms
        self.max_points = 50_000_000
        self.subquery_step_ms = 60_000  # a subquery's step where it names none
        self.results = Results(trees)
        # What @ start() and @ end() mean: the outermost query's first and last step.
        self.query_start, self.query_end = int(steps[0]), int(steps[-1])
        self._timelines = Timelines()
        self._bounds: dict[tuple, Bounds] = {}
        self._lookups: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def child(self, steps: np.ndarray, tree: ast.Node) -> Batch:
        """A batch over another grid (a subquery's) sharing this one's data and @ times."""
        inner = Batch(self.store, steps, self.sem, self.lookback_ms, [tree])
        inner.query_start, inner.query_end = self.query_start, self.query_end
        inner.max_points = self.max_points
        inner.subquery_step_ms = self.subquery_step_ms
        return inner

    def at_ms(self, at) -> int | None:
        if at is None or isinstance(at, int):
            return at
        return self.query_start if at == "start" else self.query_end

    def effective_steps(self, at) -> np.ndarray:
        """The evaluation time of each step: the step itself, or the @ time at every step."""
        at = self.at_ms(at)
        return self.steps if at is None else np.full(len(self.steps), at, dtype=np.int64)

    def bounds(self, t: np.ndarray, offset_ms: int, range_ms: int, at=None) -> Bounds:
        at = self.at_ms(at)
        key = (self._timelines.number(t), offset_ms, range_ms, at)
        found = self._bounds.get(key)
        if found is None:
            steps = self.steps if at is None else np.array([at], dtype=np.int64)
            lo, hi = window_bounds(t, steps, offset_ms, range_ms, self.sem)
            if at is not None:
                lo, hi = np.repeat(lo, len(self.steps)), np.repeat(hi, len(self.steps))
            found = self._bounds[key] = Bounds(t, lo, hi)
        return found

    def lookup(self, t: np.ndarray, offset_ms: int, at=None) -> tuple[np.ndarray, np.ndarray]:
        at = self.at_ms(at)
        key = (self._timelines.number(t), offset_ms, at)
        found = self._lookups.get(key)
        if found is None:
            steps = self.steps if at is None else np.array([at], dtype=np.int64)
            found = lookback_index(t, steps, offset_ms, self.lookback_ms, self.sem)
            if at is not None:
                found = tuple(np.repeat(a, len(self.steps)) for a in found)
            self._lookups[key] = found
        return found


class Results:
    """Values of repeated subexpressions, each kept until its last use.

    Nodes compare by structure (their source positions excluded), so equal subexpressions of
    different expressions are one key. A repeated node's operands are counted once: after the
    first evaluation they are never asked for again.
    """

    def __init__(self, trees: Iterable[ast.Node]):
        self._uses: Counter = Counter()
        for tree in trees:
            self._count(tree)
        self._kept: dict[ast.Node, object] = {}

    def _count(self, node: ast.Node) -> None:
        node = ast.unwrap(node)
        if isinstance(node, _NOT_REMEMBERED):
            return
        self._uses[node] += 1
        if self._uses[node] == 1 and not isinstance(node, ast.Subquery):  # own grid
            for child in ast.children(node):
                self._count(child)

    def take(self, node: ast.Node):
        """The kept value of `node` (None if there is none), released on its last use."""
        if node not in self._kept:
            return None
        self._uses[node] -= 1
        return self._kept[node] if self._uses[node] > 0 else self._kept.pop(node)

    def offer(self, node: ast.Node, value) -> None:
        """Keep a just-computed value if `node` is used again later."""
        if self._uses.get(node, 0) > 1:
            self._uses[node] -= 1
            self._kept[node] = value
