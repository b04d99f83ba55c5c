"""Validate one or more recipes and print every error at once.

Run as:
    python -m medkit.validate recipes/quickstart.yaml [finetune.epochs=1 ...]
    python -m medkit.validate recipes/*.yaml
    python -m medkit.validate --schema-only recipes/*.yaml   # skip data/model file checks
Exit status: 0 all valid, 2 at least one invalid.
"""
from __future__ import annotations

import sys

from converters import consistency
from converters.sources import check_source
from core.recipe.load import RecipeError, load_recipe, resolved_yaml
from core.stage import command_status
from train.quantize import scheme_problem


def main(argv: list[str]) -> int:
    check_files = "--schema-only" not in argv
    argv = [a for a in argv if a != "--schema-only"]
    files = [a for a in argv if "=" not in a]
    overrides = [a for a in argv if "=" in a]
    if not files:
        print(__doc__, file=sys.stderr)
        return 2
    status = 0
    for file in files:
        try:
            recipe = load_recipe(file, overrides, check_files)
        except RecipeError as exc:
            print(exc.render(), file=sys.stderr)
            status = 2
            continue
        if len(files) == 1:
            print(resolved_yaml(recipe))
        damaged = [f"data.sources.{i}.path = {s.path!r}: {p}" for i, s in enumerate(recipe.data.sources)
                   for p in (check_source(s.format, s.path, crc=True) if check_files else [])]
        if damaged:  # zip members that fail their CRC check (only this command reads them all)
            print(RecipeError(file, damaged).render(), file=sys.stderr)
            status = 2
            continue
        unservable = scheme_problem(recipe)
        if unservable:
            print(RecipeError(file, [unservable]).render(), file=sys.stderr)
            status = 2
            continue
        for warning in consistency.warnings(recipe.data):
            print(f"{file}: warning: {warning}", file=sys.stderr)
        print(f"{file}: valid (name={recipe.name}, model={recipe.model.name_or_path}, "
              f"method={recipe.finetune.method}, serve={recipe.serve.mode})")
    return status


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
