"""`make train` as a function: the data checks of `make data`, and when a finished run is trained again.

llamafactory-cli is replaced by a stand-in that records each call and writes the output folder;
everything else (data build, rendering, digests, done stamp) is the real code.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from core.errors import StageFailed
from core.layout import RunLayout
from core.recipe.load import load_recipe
from tests.conftest import ROOT
from train import export, preference, training


@pytest.fixture
def trainer(monkeypatch):
    calls = []

    def fake_llamafactory(argv, log, env):
        calls.append(argv)
        out = Path(yaml.safe_load(Path(argv[-1]).read_text(encoding="utf-8"))["output_dir"])
        out.mkdir(parents=True, exist_ok=True)
        (Path(out) / "adapter_config.json").write_text("{}")
        return 0

    monkeypatch.setattr(training, "run_logged", fake_llamafactory)
    monkeypatch.setattr(preference, "run_logged", fake_llamafactory)
    monkeypatch.setattr(training, "ensure_base_model", lambda recipe: None)
    return calls


def recipe(run_dir, *overrides):
    return load_recipe(ROOT / "recipes/quickstart.yaml", [f"run_dir={run_dir}", *overrides])


def test_a_finished_run_is_not_trained_again_unless_its_config_or_data_changed(tmp_path, trainer):
    first = training.run(recipe(tmp_path))
    assert first.trained and len(trainer) == 1 and first.output == RunLayout(tmp_path).trained
    assert json.loads(RunLayout(tmp_path).train_done.read_text())["config_sha256"]

    again = training.run(recipe(tmp_path))
    assert not again.trained and len(trainer) == 1, "a finished run with the same config was trained again"

    changed = training.run(recipe(tmp_path, "finetune.learning_rate=0.001"))
    assert changed.trained and len(trainer) == 2, "a changed config was not trained"
    assert len(list(tmp_path.glob("adapter.previous-*"))) == 1  # the earlier result is kept aside

    RunLayout(tmp_path).split("train").write_text('{"instruction": "q", "input": "", "output": "a"}\n')
    assert training.run(recipe(tmp_path, "finetune.learning_rate=0.001")).trained and len(trainer) == 3
    assert len(list(tmp_path.glob("adapter.previous-*"))) == 2  # set aside twice within a second: both kept


def test_train_refuses_data_that_make_data_refuses(tmp_path, trainer):
    with pytest.raises(StageFailed, match="max_reject_share"):
        training.run(recipe(tmp_path, "data.max_reject_share=0.0"))  # the samples hold malformed rows
    assert trainer == [] and not RunLayout(tmp_path).dataset_info.exists()


def test_train_checks_data_built_earlier_against_this_recipe(tmp_path, trainer):
    training.ensure_data(recipe(tmp_path))  # built and accepted under the recipe's own threshold
    assert RunLayout(tmp_path).dataset_info.exists()
    with pytest.raises(StageFailed, match="max_reject_share"):
        training.run(recipe(tmp_path, "data.max_reject_share=0.0"))
    assert trainer == []


PREFERENCE = ["preference.max_steps=2", "data.pairs.refusals=true"]  # refusal pairs: medkit_pairs_train


def test_make_train_runs_the_preference_stage_after_sft_and_skips_it_when_done(tmp_path, trainer):
    first = training.run(recipe(tmp_path, *PREFERENCE))
    assert first.trained and first.preference.trained and len(trainer) == 2
    stages = [yaml.safe_load(Path(argv[-1]).read_text())["stage"] for argv in trainer]
    assert stages == ["sft", "dpo"]
    assert first.preference.output == RunLayout(tmp_path).preference_adapter("dpo")
    assert json.loads(RunLayout(tmp_path).preference_done("dpo").read_text())["config_sha256"]

    again = training.run(recipe(tmp_path, *PREFERENCE))
    assert not again.trained and not again.preference.trained and len(trainer) == 2, "a finished stage ran again"

    # changed pairs (and only the pairs): the preference stage again, not SFT
    pairs = RunLayout(tmp_path).data / "medkit_pairs_train.jsonl"
    pairs.write_text(pairs.read_text().splitlines()[0] + "\n")
    changed = training.run(recipe(tmp_path, *PREFERENCE))
    assert not changed.trained and changed.preference.trained and len(trainer) == 3

    # a changed preference config: again; a retrained SFT: again
    assert training.run(recipe(tmp_path, *PREFERENCE, "preference.pref_beta=0.2")).preference.trained
    assert training.run(recipe(tmp_path, *PREFERENCE, "preference.pref_beta=0.2",
                               "finetune.learning_rate=0.001")).preference.trained and len(trainer) == 6


def test_preference_dataset_errors_are_stage_errors(tmp_path, trainer):
    with pytest.raises(StageFailed, match="not in .*dataset_info.json") as caught:
        training.run(recipe(tmp_path, *PREFERENCE, "preference.dataset=medkit_nothing"))
    assert caught.value.code == 2 and len(trainer) == 1  # SFT ran, the preference stage refused
    with pytest.raises(StageFailed, match="holds no pairs"):
        (RunLayout(tmp_path).data / "medkit_pairs_train.jsonl").write_text("")
        training.run(recipe(tmp_path, *PREFERENCE))
    assert not RunLayout(tmp_path).preference_done("dpo").exists()


def test_start_from_merged_asks_for_the_export_first(tmp_path, trainer):
    with pytest.raises(StageFailed, match="run `make export`, then `make train` again"):
        training.run(recipe(tmp_path, *PREFERENCE, "preference.start_from=merged"))
    assert len(trainer) == 1 and RunLayout(tmp_path).train_done.exists()


def write_model(folder: Path, weights: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text('{"model_type": "qwen2"}')
    (folder / "model.safetensors").write_bytes(weights)


def test_start_from_merged_trains_again_after_a_re_export_that_changed_the_model(tmp_path, trainer):
    merged = [*PREFERENCE, "preference.start_from=merged"]
    layout = RunLayout(tmp_path)
    training.ensure_data(recipe(tmp_path, *merged))
    write_model(layout.merged, b"merged weights")
    assert training.run(recipe(tmp_path, *merged)).preference.trained and len(trainer) == 2

    export.stamp(layout)  # `make export` stamps the same model: nothing to train
    assert not training.run(recipe(tmp_path, *merged)).preference.trained and len(trainer) == 2

    write_model(layout.merged, b"merged weightz")  # a re-export: same names, same size, other weights
    export.stamp(layout)
    assert training.run(recipe(tmp_path, *merged)).preference.trained and len(trainer) == 3
    assert not training.run(recipe(tmp_path, *merged)).preference.trained and len(trainer) == 3

    layout.export_done.unlink()  # an unstamped model (merged before exports were stamped) is digested as it is
    assert not training.run(recipe(tmp_path, *merged)).preference.trained
    write_model(layout.merged, b"merged weights")
    assert training.run(recipe(tmp_path, *merged)).preference.trained and len(trainer) == 4


def test_the_merged_model_does_not_count_when_the_stage_continues_the_adapter(tmp_path, trainer):
    layout = RunLayout(tmp_path)
    training.ensure_data(recipe(tmp_path, *PREFERENCE))
    write_model(layout.merged, b"merged weights")
    assert training.run(recipe(tmp_path, *PREFERENCE)).preference.trained
    write_model(layout.merged, b"merged weightz")
    assert not training.run(recipe(tmp_path, *PREFERENCE)).preference.trained and len(trainer) == 2
