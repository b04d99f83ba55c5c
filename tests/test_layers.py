"""The layers, drawn from the code's own imports (every `import` and `from ... import` in every
module, at any depth, read with ast; nothing is run):

  core, envs          the bottom: core imports nothing else of the project; envs only core.errors
  converters, train,  the stages: they import core and envs, and one another only through
  serve, evaluation,  INTERFACES (each a module named here and in the README's layout section)
  demo
  medkit, scripts,    the top: they may import any stage; no stage imports them
  bench

A failing test names the file and the import that points the wrong way.
"""
from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

BOTTOM = {"core", "envs"}
STAGES = {"converters", "train", "serve", "evaluation", "demo"}
TOP = {"medkit", "scripts", "bench"}
PACKAGES = BOTTOM | STAGES | TOP
# the only imports from one stage into another: (importing stage, module it may import)
INTERFACES = {
    ("train", "converters.build"),       # training builds its data first
    ("train", "evaluation.rewards"),     # GRPO is rewarded by the evaluation's own scorers
    ("serve", "train.base_model"),       # the base weights on disk, built on demand
    ("evaluation", "serve.rag.store"),   # which grounded passages this run's index holds
}


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute import in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def edges() -> list[tuple[str, str, str]]:
    """(file:line, package of the file, imported project module) for every import across packages."""
    out = []
    for package in sorted(PACKAGES):
        for path in sorted((ROOT / package).rglob("*.py")):
            for line, module in imports(path):
                target = module.split(".")[0]
                if target in PACKAGES and target != package:
                    out.append((f"{path.relative_to(ROOT)}:{line}", package, module))
    return out


def allowed(package: str, module: str) -> bool:
    target = module.split(".")[0]
    if package == "core":
        return False
    if package == "envs":
        return module == "core.errors"
    if package in STAGES:
        return target in BOTTOM or (package, module) in INTERFACES
    return target not in TOP or package == "medkit" and target == "medkit"


def test_no_import_points_up_or_sideways_outside_the_named_interfaces():
    wrong = [f"{where}: {package} imports {module}" for where, package, module in edges()
             if not allowed(package, module)]
    assert wrong == []


def test_every_named_interface_is_used():
    used = {(package, module) for _, package, module in edges() if package in STAGES}
    assert INTERFACES <= used, f"unused interfaces: {INTERFACES - used}"


def test_recipes_hold_yaml_only():
    assert sorted(p.name for p in (ROOT / "recipes").iterdir() if p.suffix != ".yaml" and p.name != "__pycache__") == []


def test_the_rule_is_checked_against_an_arrow_that_points_up(tmp_path, monkeypatch):
    """The check itself: an upward import written into core is found."""
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "bad.py").write_text("from serve import process\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert [e for e in edges() if not allowed(e[1], e[2])] == [("core/bad.py:1", "core", "serve")]
