"""What every stage shares: starting in the run directory, failing with a message, the CLI wrapper.

A stage is a function `run(recipe, ...) -> result` with all its checks inside; it raises
StageFailed (message, exit status) instead of exiting. A `__main__` only parses arguments:

    def main(argv):
        return cli(argv, run)        # load the recipe (exit 2 on errors), print it, run, exit status
"""
from __future__ import annotations

import os
import sys
import tempfile
from typing import Any, Callable

from core.layout import RunLayout
from recipes.load import load_or_exit, resolved_yaml
from recipes.schema import Recipe


class StageFailed(Exception):
    """A stage refused or failed; the message says why and what to do. `code` is the exit status."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def begin(recipe: Recipe, stage: str) -> RunLayout:
    """Save the resolved recipe in the run directory, print the stage's header; the run layout."""
    layout = RunLayout.of(recipe)
    layout.root.mkdir(parents=True, exist_ok=True)
    # written beside, then renamed: two stages starting at once (the quickstart's two servers)
    # leave one whole file, never a mix of both
    fd, tmp = tempfile.mkstemp(dir=layout.root, prefix=".recipe-", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(resolved_yaml(recipe))
    os.replace(tmp, layout.resolved_recipe)
    print(f"== {stage}: recipe '{recipe.name}', run directory {layout.root}/")
    return layout


def print_recipe(recipe: Recipe) -> None:
    """The fully resolved recipe, once per command (each stage saves it in the run directory too)."""
    print(f"== recipe '{recipe.name}', resolved:")
    print("\n".join("   " + line for line in resolved_yaml(recipe).splitlines()))


def exit_status(call: Callable[[], Any]) -> int:
    """0 when `call` returns, the StageFailed's code (message on stderr) when it fails."""
    try:
        call()
    except StageFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    return 0


def cli(argv: list[str], run: Callable[..., Any], show_recipe: bool = True, check_files: bool = True,
        **options: Any) -> int:
    """argv = [recipe.yaml, key=value, ...]: load (exit 2 with every error), print the recipe, run."""
    recipe = load_or_exit(argv, check_files)
    if show_recipe:
        print_recipe(recipe)
    return exit_status(lambda: run(recipe, **options))
