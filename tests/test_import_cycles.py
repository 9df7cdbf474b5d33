"""No module of the package imports itself back, not even from inside a function.

The graph holds every import statement of every module (top-level or in a function body;
``if TYPE_CHECKING:`` blocks never run, so they are left out), resolved to the module it
loads: ``from .pkg import name`` counts as an import of ``pkg.name`` when that is a module,
of ``pkg`` (its ``__init__``) otherwise.
"""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "imanalytics"


def modules(root: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that module `name` imports anywhere in its body."""
    is_package = path.name == "__init__.py"
    here = name.split(".") if is_package else name.split(".")[:-1]
    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(_module_of(alias.name, known) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            source = ".".join([*base, *(node.module or "").split(".")]).strip(".")
            for alias in node.names:
                target = f"{source}.{alias.name}"
                found.add(target if target in known else _module_of(source, known))
    found.discard(None)
    return found


def _runtime_nodes(tree: ast.AST):
    """Every node, skipping the bodies of ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                stack.extend(child.orelse)
            else:
                stack.append(child)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _module_of(dotted: str, known: set[str]) -> str | None:
    """The longest known module `dotted` names or lies in (None: outside the package)."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in known:
            return ".".join(parts[:end])
    return None


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    found = modules(root)
    return {name: imports(name, path, set(found)) for name, path in found.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components that form a cycle (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


# Catalog.from_dict/to_dict hand over to the loader that builds catalogs, at call time:
# the one cycle left, within that pair of modules.
KNOWN = ({"imanalytics.catalog.loader", "imanalytics.catalog.model"},)


def _known(cycle: list[str]) -> bool:
    return set(cycle) in KNOWN


def test_the_package_has_no_import_cycle_but_the_known_one():
    found = cycles(import_graph())
    for cycle in filter(_known, found):  # shown in the run's summary, not hidden
        warnings.warn(f"known import cycle: {' <-> '.join(cycle)}", stacklevel=1)
    unknown = [cycle for cycle in found if not _known(cycle)]
    assert not unknown, "import cycles: " + "; ".join(" <-> ".join(c) for c in unknown)


def test_no_cycle_touches_dashboards_or_promql():
    layers = ("imanalytics.dashboards", "imanalytics.promql")
    touching = [cycle for cycle in cycles(import_graph())
                if any(module.startswith(layers) for module in cycle)]
    assert not touching


def test_the_shared_dashboard_frame_imports_no_dashboard():
    graph = import_graph()
    boards = {f"imanalytics.dashboards.{name}"
              for name in ("build", "overview", "messaging", "layers", "baselines")}
    for shared in ("builders", "catalog_panels", "panels", "layout", "queries", "preview"):
        assert not graph[f"imanalytics.dashboards.{shared}"] & boards, shared


# The checker itself, on small trees with and without a cycle.

def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize("files", [
    {"__init__.py": "", "a.py": "from .b import x\n", "b.py": "def f():\n    from . import a\n"},
    {"__init__.py": "", "sub/__init__.py": "from .c import y\n",
     "sub/c.py": "from .. import a\n", "a.py": "import pkg.sub\n"},
    {"__init__.py": "", "a.py": "from pkg.a import x\n"},
])
def test_a_cycle_is_found_at_any_depth(tmp_path, files):
    assert cycles(import_graph(_tree(tmp_path, files)))


def test_one_way_imports_and_type_checking_blocks_are_no_cycle(tmp_path):
    root = _tree(tmp_path, {
        "__init__.py": "from .a import x\n",
        "a.py": "import json\nfrom .b import y\nfrom typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from .c import z\n",
        "b.py": "def f():\n    from .c import z\n",
        "c.py": "import typing\nif typing.TYPE_CHECKING:\n    from . import a\n",
    })
    graph = import_graph(root)
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == {"pkg.c"}
    assert cycles(graph) == []
