"""The recipe's preference section: validation with clear errors, and the pure render to LLaMA-Factory."""
from __future__ import annotations

import json

import pytest
import yaml

from core.layout import RunLayout
from core.layout import preference_dir
from core.recipe.load import RecipeError, load_recipe
from tests.conftest import ROOT
from train.render import train_config
from train.render_preference import PreferenceConfigError, preference_config


def recipe_with(tmp_path, preference, **sections):
    tree = yaml.safe_load((ROOT / "recipes" / "quickstart.yaml").read_text(encoding="utf-8"))
    tree.update(run_dir=str(tmp_path / "run"), preference=preference, **sections)
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(tree, allow_unicode=True), encoding="utf-8")
    return path


def errors(tmp_path, preference, **sections) -> str:
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe_with(tmp_path, preference, **sections))
    return info.value.render()


def test_bad_preference_sections_are_named_errors(tmp_path):
    assert "preference.stage" in errors(tmp_path, {"stage": "ppo"})
    assert "stage kto has its own loss" in errors(tmp_path, {"stage": "kto", "pref_loss": "orpo"})
    assert "trains without a reference model" in errors(tmp_path, {"pref_loss": "simpo", "reference": "base"})
    assert "simpo_gamma is used by pref_loss simpo only" in errors(tmp_path, {"simpo_gamma": 1.0})
    assert "preference.pref_beta" in errors(tmp_path, {"pref_beta": 0})
    assert "preference.epoch" in errors(tmp_path, {"epoch": 1})  # a typo is an error, not ignored
    full = errors(tmp_path, {"stage": "dpo"}, finetune={"method": "full"}, serve={"mode": "merged"})
    assert "use preference.start_from: merged" in full
    assert "export.enabled is false" in errors(tmp_path, {"start_from": "merged"}, export={"enabled": False})


def test_dpo_from_the_sft_adapter_with_the_sft_model_as_reference(tmp_path):
    recipe = load_recipe(recipe_with(tmp_path, {"stage": "dpo", "pref_beta": 0.2, "max_steps": 3,
                                                "learning_rate": 1e-4}))
    cfg = preference_config(recipe)
    sft = train_config(recipe)
    adapter = str(RunLayout.of(recipe).trained.resolve())
    assert (cfg["stage"], cfg["pref_loss"], cfg["pref_beta"], cfg["dataset"]) == ("dpo", "sigmoid", 0.2,
                                                                                   "medkit_pairs_train")
    assert cfg["adapter_name_or_path"] == adapter and cfg["model_name_or_path"] == sft["model_name_or_path"]
    assert (cfg["ref_model"], cfg["ref_model_adapters"]) == (sft["model_name_or_path"], adapter)
    assert cfg["output_dir"] == str(preference_dir(recipe).resolve()) and cfg["output_dir"].endswith("adapter-dpo")
    assert (cfg["max_steps"], cfg["learning_rate"]) == (3, 1e-4)
    assert "lora_rank" not in cfg and "eval_dataset" not in cfg  # the adapter's shape; no SFT validation set
    for key in ("template", "cutoff_len", "fp32" if "fp32" in sft else "seed"):
        assert cfg.get(key) == sft.get(key)  # prompts are built exactly as in SFT
    # the SFT render knows nothing of the preference stage
    assert sft["stage"] == "sft" and not {"pref_beta", "pref_loss", "ref_model"} & set(sft)


def test_orpo_simpo_kto_and_start_from_merged(tmp_path):
    orpo = preference_config(load_recipe(recipe_with(tmp_path, {"pref_loss": "orpo"})))
    assert orpo["pref_loss"] == "orpo" and "ref_model" not in orpo and orpo["output_dir"].endswith("adapter-orpo")
    simpo = preference_config(load_recipe(recipe_with(tmp_path, {"pref_loss": "simpo", "simpo_gamma": 1.0})))
    assert simpo["simpo_gamma"] == 1.0
    kto = preference_config(load_recipe(recipe_with(tmp_path, {"stage": "kto"})))
    assert (kto["stage"], kto["dataset"]) == ("kto", "medkit_kto_train") and "pref_loss" not in kto
    base_ref = preference_config(load_recipe(recipe_with(tmp_path, {"reference": "base"})))
    assert "ref_model" not in base_ref
    recipe = load_recipe(recipe_with(tmp_path, {"start_from": "merged"}))
    merged = preference_config(recipe)
    assert merged["model_name_or_path"].endswith("merged") and "adapter_name_or_path" not in merged
    assert merged["ref_model"] == merged["model_name_or_path"] and merged["lora_rank"] == 16


def test_the_dataset_must_exist_and_fit_the_stage(tmp_path):
    recipe = load_recipe(recipe_with(tmp_path, {"stage": "kto"}))
    data = tmp_path / "run" / "data"
    data.mkdir(parents=True)
    info = {"medkit_train": {"file_name": "train.jsonl"},
            "medkit_pairs_train": {"file_name": "p.jsonl", "ranking": True, "columns": {}},
            "medkit_pairs_validation": {"file_name": "pv.jsonl", "ranking": True, "columns": {}}}
    (data / "dataset_info.json").write_text(json.dumps(info))
    with pytest.raises(PreferenceConfigError, match="preference datasets there: .*medkit_pairs_train"):
        preference_config(recipe)  # kto without a KTO file
    recipe = load_recipe(recipe_with(tmp_path, {"dataset": "medkit_train"}))
    with pytest.raises(PreferenceConfigError, match="needs a ranking dataset"):
        preference_config(recipe)
    cfg = preference_config(load_recipe(recipe_with(tmp_path, {"stage": "dpo"})))
    assert cfg["eval_dataset"] == "medkit_pairs_validation"  # the held-out pairs, when there are any
