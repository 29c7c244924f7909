"""The package's layers point one way: no two modules import each other, and no import cycle at all.

Read from the source with :mod:`ast` (every ``import`` statement, also the ones inside functions,
which a run-time check would miss), so the test needs none of the heavy dependencies.
"""

from __future__ import annotations

import ast
from pathlib import Path

from media import REPO_ROOT

PACKAGE = REPO_ROOT / "videossr"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The project modules ``path`` imports (``from a import b`` counts ``a.b`` when it is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            if name in modules:
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(path) for path in paths}
    graph = {}
    for path in paths:
        name = module_name(path)
        # A package's own __init__ is imported by every module in it: not an edge of the layering.
        graph[name] = {
            other for other in imports_of(path, modules) if other != name and not name.startswith(other + ".")
        }
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (its modules in order, first repeated last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_is_read_from_the_source():
    graph = import_graph()
    assert "videossr.qwen_vl.video_prompt" in graph["videossr.training.agent_loop"]
    assert "videossr.training.recipe" in graph["videossr.training.parity"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_in_the_package():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_evaluation_does_not_import_training():
    """What both share lives below both (videossr.qwen_vl): evaluation runs without verl's side."""
    graph = import_graph()
    crossing = sorted(
        f"{name} -> {other}"
        for name, others in graph.items()
        if name.startswith("videossr.eval")
        for other in others
        if other.startswith("videossr.training")
    )
    assert not crossing, crossing
