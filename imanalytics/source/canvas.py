"""The frame a range pull fills in place: one preallocated matrix, one label dict per series."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd

from ..frames import Grid, place_block, refuse_unordered, wide_frame
from ..samples import format_series


class Canvas:
    """Columns are assigned on first sight of a series, so every later chunk of it reuses the
    same label dict and column; replies are written straight into the matrix and dropped."""

    def __init__(self, grid: Grid, labelsets: list[dict] = (), width: int = 0):
        self.grid = grid
        self.labelsets: list[dict] = []
        self._columns: dict[str, int] = {}
        self._lock = threading.Lock()
        self.values = np.full((grid.n, max(width, len(labelsets), 1)), np.nan, order="F")
        for labels in labelsets:
            self._column(labels)

    def __len__(self) -> int:
        return len(self.labelsets)

    def place(self, result: list[dict], chunk: Grid) -> None:
        """Write one parsed matrix reply for the sub-grid `chunk` (ValueError if off-grid)."""
        with self._lock:
            columns = np.array([self._column(item["metric"]) for item in result], dtype=np.intp)
            rows = self.values[self.grid.offset(chunk.start):][:chunk.n]
            place_block(result, rows, columns, chunk.start, chunk.step)

    def column(self, labels: dict) -> int:
        """The column of the series `labels` (a new one on first sight)."""
        with self._lock:
            return self._column(labels)

    def region(self, chunk: Grid) -> Region:
        """The rows of `chunk`, as a `MatrixStream` writes them."""
        return Region(self, chunk)

    def write(self, column: int, chunk: Grid, t: np.ndarray, v: np.ndarray,
              after: int | None) -> None:
        """Write samples of one series within `chunk`; `after` is its last time so far.
        Raises ValueError on a timestamp off the grid, repeated or out of order."""
        refuse_unordered(t, after, self.labelsets[column])
        rows, off = np.divmod(t - chunk.start, chunk.step)
        if off.any() or rows[0] < 0 or rows[-1] >= chunk.n:
            raise ValueError("timestamps off the step grid")
        with self._lock:
            self.values[self.grid.offset(chunk.start) + rows, column] = v

    def clear(self, chunk: Grid, columns: list[int]) -> None:
        """Forget what was written in `chunk` for `columns` (a reply read again)."""
        if columns:
            with self._lock:
                first = self.grid.offset(chunk.start)
                self.values[first:first + chunk.n, np.unique(columns)] = np.nan

    def frame(self) -> pd.DataFrame:
        return wide_frame(self.grid.times(), self.labelsets, self.values[:, :len(self)],
                          own=True)

    def _column(self, labels: dict) -> int:
        name = format_series(labels)
        column = self._columns.get(name)
        if column is None:
            column = self._columns[name] = len(self.labelsets)
            self.labelsets.append(labels)
            if column >= self.values.shape[1]:
                self._widen(2 * column)
        return column

    def _widen(self, width: int) -> None:
        wider = np.full((self.grid.n, width), np.nan, order="F")
        wider[:, :self.values.shape[1]] = self.values
        self.values = wider


class Region:
    """One request's rows of a canvas: series columns, writes and clears within `chunk`."""

    def __init__(self, canvas: Canvas, chunk: Grid):
        self.canvas, self.chunk = canvas, chunk

    def column(self, labels: dict) -> int:
        return self.canvas.column(labels)

    def write(self, column: int, t: np.ndarray, v: np.ndarray, after: int | None) -> None:
        self.canvas.write(column, self.chunk, t, v, after)

    def clear(self, columns: list[int]) -> None:
        self.canvas.clear(self.chunk, columns)
