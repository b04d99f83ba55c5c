"""The tiny model's up-to-date check runs in the calling process: no train environment (and its
~10 s torch import) is started for a model that is already built; a changed spec rebuilds it."""
from __future__ import annotations

import json

from core.layout import RunLayout
from core.recipe.load import load_recipe
from tests.conftest import ROOT
from train import base_model, tiny_model


def test_a_built_tiny_model_is_not_rebuilt_and_a_changed_spec_is(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(base_model, "run_logged", lambda argv, log, env: started.append(argv) or 0)
    recipe = load_recipe(ROOT / "recipes/quickstart.yaml", [f"run_dir={tmp_path}"])
    out = RunLayout.of(recipe).tiny_model
    spec = recipe.model.tiny.model_dump()

    base_model.ensure_base_model(recipe)  # nothing built yet
    assert len(started) == 1 and started[0][1:3] == ["-m", "train.tiny_model"]

    out.mkdir(parents=True)  # what train/tiny_model.py leaves behind
    (out / "model.safetensors").write_bytes(b"weights")
    (out / "medkit_tiny.json").write_text(json.dumps(tiny_model.wanted_stamp(spec)))
    base_model.ensure_base_model(recipe)
    assert len(started) == 1

    changed = load_recipe(ROOT / "recipes/quickstart.yaml", [f"run_dir={tmp_path}", "model.tiny.seed=7"])
    base_model.ensure_base_model(changed)
    assert len(started) == 2
