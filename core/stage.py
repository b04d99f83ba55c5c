"""What every stage shares: starting in the run directory, the recipe from the command line, the
one place where an error becomes an exit status.

A stage is a function `run(recipe, ...) -> result` with all its checks inside; it raises
StageFailed (core/errors.py: message, exit status) instead of exiting. A `__main__` only parses
arguments:

    def main(argv):
        return cli(argv, run)        # load the recipe (exit 2 on errors), print it, run, exit status

and every module run as a command ends with `sys.exit(command_status(main, sys.argv[1:]))`, as
medkit/cli.py does for each of its commands.
"""
from __future__ import annotations

import os
import sys
import tempfile
from typing import Any, Callable, Optional

from core.errors import StageFailed
from core.layout import RunLayout
from core.recipe.load import RecipeError, load_recipe, resolved_yaml
from core.recipe.schema import Recipe


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
    """0 when `call` returns, the StageFailed's code (message on stderr) when it fails: the one place
    where an error becomes an exit status."""
    try:
        call()
    except StageFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    return 0


def recipe_from_argv(argv: list[str], check_files: bool = True) -> Recipe:
    """argv = [recipe.yaml, key=value, ...] -> the recipe; StageFailed (exit status 2) with every error."""
    if not argv or argv[0] in ("-h", "--help"):
        raise StageFailed("usage: <stage> RECIPE.yaml [key.sub=value ...]", 2)
    try:
        return load_recipe(argv[0], argv[1:], check_files=check_files)
    except RecipeError as exc:
        raise StageFailed(exc.render(), 2) from None


def command_status(main: Callable[[list[str]], Optional[int]], argv: list[str]) -> int:
    """A command's exit status: what `main(argv)` returns (None: 0), or the StageFailed's code."""
    status = [0]

    def call() -> None:
        status[0] = main(argv) or 0
    failed = exit_status(call)
    return failed or status[0]


def cli(argv: list[str], run: Callable[..., Any], show_recipe: bool = True, check_files: bool = True,
        **options: Any) -> int:
    """argv = [recipe.yaml, key=value, ...]: load (exit 2 with every error), print the recipe, run."""
    def load_and_run() -> Any:
        recipe = recipe_from_argv(argv, check_files)
        if show_recipe:
            print_recipe(recipe)
        return run(recipe, **options)
    return exit_status(load_and_run)
