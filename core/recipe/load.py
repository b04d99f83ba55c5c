"""Load a recipe: YAML file + dotted overrides -> validated `Recipe`, or every error at once.

Paths inside a recipe are relative to the directory `make` runs in (the
repository root). Errors name the file, the dotted key, the value given and
what is allowed; the command exits with status 2 (core/stage.py).
Loading checks that files exist; what a data source holds is checked by `make data` and
`make validate` (converters/sources.py).
"""
from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from core.recipe.packaged import PACKAGED
from core.recipe.schema import TINY, Recipe


class RecipeError(Exception):
    def __init__(self, source: str, problems: list[str]):
        self.source, self.problems = source, problems
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"{self.source}: {len(self.problems)} error(s)"]
        lines += [f"  - {p}" for p in self.problems]
        lines.append(f"Fix the recipe (or the ARGS override) and check it with "
                     f"`make validate RECIPE={self.source}`.")
        return "\n".join(lines)


def parse_overrides(pairs: list[str]) -> list[tuple[list[str], Any]]:
    out = []
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise RecipeError("ARGS", [f"override '{pair}' is not key.sub=value"])
        try:
            value = yaml.safe_load(raw) if raw != "" else None
        except yaml.YAMLError as exc:
            problem = str(getattr(exc, "problem", None) or exc).strip()
            raise RecipeError("ARGS", [f"override '{pair}': the value is not valid YAML ({problem}); a list or "
                                       f"mapping must stay one argument: quote it whole, e.g. "
                                       f"ARGS=\"'{key.strip()}=[a, b]'\" (make splits ARGS at spaces)"]) from None
        out.append((key.strip().split("."), value))
    return out


def apply_override(tree: dict, path: list[str], value: Any) -> None:
    node: Any = tree
    for i, part in enumerate(path[:-1]):
        if isinstance(node, list):
            if int(part) == len(node):  # `adapters.1.name=x` on a one-item list appends an item
                node.append({})
            node = node[int(part)]
            continue
        if node.get(part) is None:
            # an override may create a section; a list index means it must be a list
            node[part] = [] if path[i + 1].isdigit() else {}
        node = node[part]
    last = path[-1]
    if isinstance(node, list):
        idx = int(last)
        if idx == len(node):
            node.append(value)
        else:
            node[idx] = value
    else:
        node[last] = value


def allowed_keys(loc: tuple) -> list[str]:
    """Field names of the schema model that owns `loc` (for 'unknown key' messages)."""
    model: Any = Recipe
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            return []
        ann = field.annotation
        for candidate in (ann, *getattr(ann, "__args__", ())):
            for inner in (candidate, *getattr(candidate, "__args__", ())):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    model = inner
                    break
            else:
                continue
            break
    return sorted(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else []


def describe(err: dict) -> str:
    loc = tuple(err["loc"])
    key = ".".join(str(p) for p in loc) or "(top level)"
    value = err.get("input")
    if err["type"] == "extra_forbidden":
        allowed = allowed_keys(loc)
        return f"{key}: unknown key (allowed here: {', '.join(allowed)})"
    if err["type"] == "missing":
        return f"{key}: required key is missing"
    shown = repr(value) if not isinstance(value, dict) else "{...}"
    return f"{key} = {shown}: {err['msg']}"


def check_paths(tree: dict) -> list[str]:
    """What pydantic cannot see: files and directories that must exist.

    Works on the raw tree so these errors are reported together with schema errors.
    """
    def section(key):
        value = tree.get(key)
        return value if isinstance(value, dict) else {}

    problems = []
    name = section("model").get("name_or_path")
    if isinstance(name, str) and name != TINY and name not in PACKAGED:
        looks_local = name.startswith(("/", "./", "../", "~")) or name.count("/") != 1
        if looks_local and not Path(name).expanduser().exists():
            problems.append(f"model.name_or_path = {name!r}: no such directory. Give a local model "
                            f"directory, a hub id such as Qwen/Qwen2.5-0.5B-Instruct, 'tiny' "
                            f"for the built-in test model, or a packaged model: {', '.join(PACKAGED)}.")
    sources = section("data").get("sources")
    for i, source in enumerate(sources if isinstance(sources, list) else []):
        path = source.get("path") if isinstance(source, dict) else None
        if isinstance(path, str) and not (Path(path).exists() or glob.glob(path, recursive=True)):
            problems.append(f"data.sources.{i}.path = {path!r}: file not found (paths are relative to the "
                            f"repository root)")  # what a source holds is checked by make data / make validate
    refusal_settings = section("data").get("refusals")
    for key in ("questions", "eval_questions"):
        questions = refusal_settings.get(key) if isinstance(refusal_settings, dict) else None
        if isinstance(questions, str) and not Path(questions).is_file():
            problems.append(f"data.refusals.{key} = {questions!r}: file not found "
                            f"(one out-of-scope question per line; paths are relative to the repository root)")
    multiturn = section("eval").get("multiturn")
    if isinstance(multiturn, str) and not Path(multiturn).is_file():
        problems.append(f"eval.multiturn = {multiturn!r}: file not found (a JSONL of multi-turn consultations, "
                        f"e.g. data/samples/multiturn/consultations_zh.jsonl)")
    adapters = section("serve").get("adapters")
    for i, adapter in enumerate(adapters if isinstance(adapters, list) else []):
        path = adapter.get("path") if isinstance(adapter, dict) else None
        if isinstance(path, str) and not (Path(path) / "adapter_config.json").exists():
            problems.append(f"serve.adapters.{i}.path = {path!r}: no adapter_config.json "
                            f"there; point it at a LoRA adapter directory or leave it empty "
                            f"to use this recipe's own adapter")
    return problems


def load_recipe(path: str | Path, overrides: list[str] = (), check_files: bool = True) -> Recipe:
    source = str(path)
    file = Path(path)
    if not file.exists():
        raise RecipeError(source, ["recipe file not found; list shipped ones with `ls recipes/*.yaml`"])
    try:
        tree = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise RecipeError(source, [f"not valid YAML: {exc}"]) from None
    if not isinstance(tree, dict):
        raise RecipeError(source, ["top level must be a mapping of sections (model:, data:, ...)"])
    problems = []
    for keys, value in parse_overrides(list(overrides)):
        try:
            apply_override(tree, keys, value)
        except (ValueError, IndexError, KeyError, TypeError):
            problems.append(f"ARGS {'.'.join(keys)}: cannot set this key (bad list index or not a section)")
    if problems:
        raise RecipeError(source, problems)
    recipe = None
    try:
        recipe = Recipe.model_validate(tree)
    except ValidationError as exc:
        problems = [describe(e) for e in exc.errors()]
    if check_files:
        problems += check_paths(tree)
    if problems:
        raise RecipeError(source, problems)
    return recipe


def resolved_yaml(recipe: Recipe) -> str:
    return yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
