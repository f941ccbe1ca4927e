"""The library's layout: every import points one way (no cycles), checked from the source.

Each module of ``lib/ssm_metarl`` is parsed with ``ast``; every import of a
package module (at module top *and* inside functions, where a cycle is
usually hidden) is an edge. Importing ``a.b.c`` also runs the package
``a.b``'s ``__init__``, so that is an edge too. The graph must be acyclic.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "ssm_metarl"
ROOT = Path(__file__).resolve().parents[1] / "lib" / PACKAGE


def module_name(path: Path) -> str:
    parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def resolve(node: ast.ImportFrom, current: str, is_package: bool) -> str:
    """The absolute module name of ``from <dots><module> import ...`` in ``current``."""
    if node.level == 0:
        return node.module or ""
    base = current.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imported_modules(path: Path, current: str, known: set[str]) -> set[str]:
    """Package modules that ``path`` imports anywhere, with the packages they load."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = resolve(node, current, path.name == "__init__.py")
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}  # from pkg import module
    edges = set()
    for name in found:
        parts = name.split(".")
        for end in range(2, len(parts) + 1):  # a.b.c loads a.b first ...
            prefix = ".".join(parts[:end])
            inside = current.startswith(prefix + ".")  # ... unless we are inside a.b already
            if prefix in known and prefix != current and (not inside or end == len(parts)):
                edges.add(prefix)
    return edges


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imported_modules(path, name, known) for name, path in found.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first = last), or None (depth-first search)."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_imports_inside_functions_are_edges(tmp_path):
    source = tmp_path / "mod.py"
    source.write_text("def f():\n    from .other import thing\n")
    assert imported_modules(source, f"{PACKAGE}.mod", {f"{PACKAGE}.other"}) == {
        f"{PACKAGE}.other"}


def test_a_submodule_importing_its_sibling_is_no_edge_to_its_package(tmp_path):
    source = tmp_path / "bandit.py"
    source.write_text("from ._common import helper\nfrom .. import profiles\n")
    known = {f"{PACKAGE}.envs", f"{PACKAGE}.envs._common", f"{PACKAGE}.profiles"}
    assert imported_modules(source, f"{PACKAGE}.envs.bandit", known) == {
        f"{PACKAGE}.envs._common", f"{PACKAGE}.profiles"}


def test_library_imports_have_no_cycle():
    graph = import_graph()
    assert len(graph) > 20, "the parser found too few modules; is ROOT right?"
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("base", ["_validate"])
def test_foundation_modules_import_nothing_from_the_package(base):
    graph = import_graph()
    assert graph[f"{PACKAGE}.{base}"] == set()


def test_functional_imports_only_the_validation_module():
    assert import_graph()[f"{PACKAGE}.functional"] == {f"{PACKAGE}._validate"}
