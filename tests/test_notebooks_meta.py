"""The notebooks are stored clean: no outputs, no execution counts, a python3 kernel and a
Markdown title first. (nbmake runs them top to bottom in the suite.)"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.fixture(params=NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def notebook(request):
    return nbformat.read(request.param, as_version=4)


def test_valid(notebook):
    nbformat.validate(notebook)


def test_stored_without_outputs(notebook):
    dirty = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"
             and (cell.outputs or cell.execution_count is not None)]
    assert dirty == [], f"code cells {dirty} have outputs or execution counts"


def test_kernel_is_python3(notebook):
    assert notebook.metadata.get("kernelspec", {}).get("name") == "python3"


def test_first_cell_is_a_markdown_title(notebook):
    first = notebook.cells[0]
    assert first.cell_type == "markdown"
    assert first.source.lstrip().startswith("# ")
