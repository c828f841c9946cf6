"""No import cycles among the package's runtime imports.

A cycle makes import order matter (a module sees its partner half-initialised, depending on
which of the two was imported first) and ties two concerns together so neither can change
alone. Every import counts, function-local ones included (they run too, only later); imports
under ``if TYPE_CHECKING:`` do not, since they never run. The graph is read from the source
with ``ast``, so nothing is imported and the test sees every module, also ones no test loads.
"""

from __future__ import annotations

import ast
from pathlib import Path

import dspy_bridge

PACKAGE = "dspy_bridge"
ROOT = Path(dspy_bridge.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in ROOT.rglob("*.py") if "_gen" not in p.relative_to(ROOT).parts}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:  # the else branch of `if TYPE_CHECKING:` does run
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        base = name.split(".") if is_package else name.split(".")[:-1]
        targets: set[str] = set()
        for node in _runtime_imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
                continue
            if node.level:
                anchor = base[: len(base) - (node.level - 1)]
                source = ".".join(anchor + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            targets.add(source)
            for alias in node.names:  # `from pkg import submodule` imports that module
                if f"{source}.{alias.name}" in modules:
                    targets.add(f"{source}.{alias.name}")
        own = set(_ancestors(name)) | {name}
        for target in targets:
            if not target.startswith(PACKAGE):
                continue
            # Importing a.b.c runs a and a.b first, unless they are this module's own parents
            # (a package importing its own submodules is how packages are made).
            for needed in [*_ancestors(target), target]:
                if needed in modules and needed not in own:
                    graph[name].add(needed)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def connect(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def _path_within(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One concrete cycle inside `component` (breadth first from its first module), to name
    in the failure."""
    members = set(component)
    start = component[0]
    parent: dict[str, str] = {start: start}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & members):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return [*reversed(path), start]
            if w not in parent:
                parent[w] = v
                queue.append(w)
    return component


def test_the_graph_is_read_from_every_module() -> None:
    graph = _graph()
    assert "dspy_bridge.session._context" in graph
    # A known runtime edge, so a broken reader cannot pass by seeing no imports at all.
    assert "dspy_bridge.core.host" in graph["dspy_bridge.session._context"] or any(
        "dspy_bridge.core" in target for target in graph["dspy_bridge.session._context"]
    )


def test_the_reader_skips_type_checking_imports_and_counts_local_ones() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import a\nelse:\n    import b\n"
        "def f():\n    import c\n"
    )
    names = {alias.name for node in _runtime_imports(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert names == {"b", "c"}


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _path_within(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]


def test_no_runtime_import_cycles() -> None:
    graph = _graph()
    cycles = _cycles(graph)
    described = [" -> ".join(_path_within(graph, c)) + f"  (component: {', '.join(c)})" for c in cycles]
    assert not cycles, "runtime import cycles:\n" + "\n".join(described)
