"""The structure the package promises (docs/architecture.md): no import cycles,
no private names imported across packages, a package per folder, small modules.
The layer order itself is checked by import-linter (pyproject.toml, `lint-imports`
in .ci/run); these are the properties it does not check."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set

import grimp

PACKAGE = Path(__file__).resolve().parents[2] / "gsotriage"
MAX_LINES = 600


def _strongly_connected(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Tarjan's algorithm, iterative (no recursion limit on a big package)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    on_stack: Set[str] = set()
    stack: List[str] = []
    out: List[List[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.get(node, ()):
                    out.append(sorted(component))
    return out


def _import_graph() -> Dict[str, Set[str]]:
    g = grimp.build_graph("gsotriage")
    return {m: set(g.find_modules_directly_imported_by(m)) for m in g.modules}


def test_no_import_cycle_inside_the_package():
    assert _strongly_connected(_import_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_private_name_is_imported_from_another_module():
    """A leading underscore means "this module's own": other modules, in the same
    package or not, use public names (collect/live.py once reached into dump.py's)."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("gsotriage")):
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        offenders.append(
                            f"{path.relative_to(PACKAGE)}: from {'.' * node.level}{node.module} import {alias.name}"
                        )
    assert offenders == []


def test_every_package_folder_is_a_package():
    folders = {p.parent for p in PACKAGE.rglob("*.py")}
    assert sorted(str(f) for f in folders if not (f / "__init__.py").exists()) == []


def test_no_module_over_the_size_limit():
    big = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert big == {}
