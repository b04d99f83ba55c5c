"""`make export` stamps what it merged: the digest the preference stage (start_from: merged) keys on.

llamafactory-cli and the export check are stand-ins that write the merged folder and pass; the stamp,
its digest and when it is removed are the real code."""
from __future__ import annotations

import json

import pytest

from core.errors import StageFailed
from core.layout import RunLayout
from core.recipe.load import load_recipe
from tests.conftest import ROOT
from train import export


@pytest.fixture
def merge(monkeypatch, tmp_path):
    """Each `llamafactory-cli export` writes the weights given; the check exits with `check_code`."""
    state = {"weights": b"w1", "check_code": 0}

    def fake(argv, log, env):
        if "export" in argv:
            RunLayout(tmp_path).merged.mkdir(parents=True, exist_ok=True)
            (RunLayout(tmp_path).merged / "config.json").write_text("{}")
            (RunLayout(tmp_path).merged / "model.safetensors").write_bytes(state["weights"])
            return 0
        return state["check_code"]

    monkeypatch.setattr(export, "run_logged", fake)
    monkeypatch.setattr(export, "ensure_base_model", lambda recipe: None)
    layout = RunLayout(tmp_path)
    layout.trained.mkdir(parents=True)
    layout.train_done.write_text("{}")
    return state


def stamped(tmp_path) -> str:
    return json.loads(RunLayout(tmp_path).export_done.read_text())["model_sha256"]


def test_export_stamps_the_content_of_the_merged_model(tmp_path, merge):
    recipe = load_recipe(ROOT / "recipes/quickstart.yaml", [f"run_dir={tmp_path}"])
    export.run(recipe)
    first = stamped(tmp_path)
    assert first == export.model_digest(RunLayout(tmp_path).merged)
    export.run(recipe)
    assert stamped(tmp_path) == first  # the same model merged again: the same digest

    merge["weights"] = b"w2"
    export.run(recipe)
    assert stamped(tmp_path) != first

    merge["check_code"] = 1  # a model that fails its check is left unstamped
    with pytest.raises(StageFailed):
        export.run(recipe)
    assert not RunLayout(tmp_path).export_done.exists()


def test_on_merged_runs_once_the_files_are_written_and_a_failed_check_still_fails(tmp_path, merge):
    """The quickstart starts the merged server from on_merged, while the checks run."""
    recipe = load_recipe(ROOT / "recipes/quickstart.yaml", [f"run_dir={tmp_path}"])
    seen = []
    export.run(recipe, on_merged=lambda: seen.append(RunLayout(tmp_path).has_merged))
    assert seen == [True]
    merge["check_code"] = 1
    with pytest.raises(StageFailed, match="has problems"):
        export.run(recipe, on_merged=lambda: seen.append("called"))
    assert seen == [True, "called"] and not RunLayout(tmp_path).export_done.exists()
