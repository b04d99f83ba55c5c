"""The import graph of the toolkit: no cycle, no module importing a `__main__` (the layers: tests/test_layers.py)."""
from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("bench", "converters", "core", "demo", "envs", "evaluation", "medkit", "scripts", "serve", "train")


def module_name(file: Path) -> str:
    parts = list(file.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(file: Path, known: set[str]) -> set[str]:
    """Project modules `file` imports anywhere in it (a function-level import counts too)."""
    found = set()
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from package import submodule` imports the submodule; `from module import name`, the module
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                     for a in node.names]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and not name.endswith("__init__"):
                found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    files = [f for package in PACKAGES for f in (ROOT / package).rglob("*.py")]
    known = {module_name(f) for f in files}
    return {module_name(f): imports(f, known) - {module_name(f)} for f in files}


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_import_graph_has_no_cycle():
    found = cycle({m: {d for d in deps if d.split(".")[0] in PACKAGES} for m, deps in graph().items()})
    assert found is None, "import cycle: " + " -> ".join(found)


def test_no_module_imports_a_main():
    offenders = sorted(f"{m} imports {d}" for m, deps in graph().items() for d in deps if d.endswith("__main__"))
    assert offenders == []


def test_the_cycle_finder_finds_one():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


def test_every_main_only_parses_arguments():
    """A `__main__.py` holds at most `parse_args` and `main`: the stage itself lives in an ordinary module."""
    extra = {}
    for package in PACKAGES:
        for file in (ROOT / package).rglob("__main__.py"):
            tree = ast.parse(file.read_text(encoding="utf-8"))
            defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
            if defined - {"main", "parse_args"}:
                extra[str(file.relative_to(ROOT))] = sorted(defined - {"main", "parse_args"})
    assert extra == {}
