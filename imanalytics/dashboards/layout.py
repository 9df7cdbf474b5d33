"""Automatic grid layout: panels flow left to right in order and wrap at 24 columns.

Builders give each panel a size only; `layout` computes every position, so adding or
removing a panel never leaves a hand-placed panel overlapping another.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import attr
from grafanalib.core import GridPos, Panel, RowPanel

GRID_WIDTH = 24
DEFAULT_SIZE = (12, 8)  # width, height


@dataclass(frozen=True)
class Section:
    """Panels under one row header; ``title=None`` puts them above the first row."""

    title: str | None
    panels: Sequence[Panel]
    collapsed: bool = False


def size(panel: Panel) -> tuple[int, int]:
    """A panel's requested (width, height)."""
    if panel.gridPos is None:
        return DEFAULT_SIZE
    return panel.gridPos.w, panel.gridPos.h


def layout(sections: Iterable[Section]) -> list[Panel]:
    """Top-level panels with grid positions; collapsed rows carry their panels inside."""
    out: list[Panel] = []
    y = 0
    for section in sections:
        if not section.panels:
            continue
        if section.title is None:
            placed, y = _flow(section.panels, y)
            out += placed
            continue
        header = GridPos(h=1, w=GRID_WIDTH, x=0, y=y)
        # Panels of a collapsed row keep the positions they take when it is expanded.
        placed, end = _flow(section.panels, y + 1)
        if section.collapsed:
            out.append(RowPanel(title=section.title, gridPos=header, collapsed=True,
                                panels=placed))
            y += 1
        else:
            out += [RowPanel(title=section.title, gridPos=header), *placed]
            y = end
    return out


def _flow(panels: Sequence[Panel], y: int) -> tuple[list[Panel], int]:
    """Place `panels` from row `y`; return them and the first free row below."""
    placed, x, line_height = [], 0, 0
    for panel in panels:
        w, h = size(panel)
        if not 0 < w <= GRID_WIDTH:
            raise ValueError(f"panel {panel.title!r}: width {w} is not within 1..{GRID_WIDTH}")
        if x + w > GRID_WIDTH:
            y, x, line_height = y + line_height, 0, 0
        placed.append(attr.evolve(panel, gridPos=GridPos(h=h, w=w, x=x, y=y)))
        x, line_height = x + w, max(line_height, h)
    return placed, y + line_height
