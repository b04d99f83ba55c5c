"""SFT then DPO on the tiny model, on CPU, through `make train`'s function and the real `llamafactory-cli train`.

cMedQA2-format pairs (data/samples/cmedqa2_pairs) and refusal pairs are built by `make data`'s
build; `make train` (train/training.py) runs a few LoRA SFT steps, then the preference stage
continues the adapter with DPO (sigmoid loss, the SFT model as reference) for a few steps; a rerun
trains nothing; vLLM's launch plan mounts both adapters. Then KTO from the same SFT adapter.
"""
from __future__ import annotations

import json
import os
import subprocess

import pytest
import yaml

from converters.build import build
from serve.vllm_cmd import plan
from train import training
from envs import bin_of
from recipes.load import load_recipe
from core.layout import RunLayout
from recipes.render_preference import preference_dir, write_preference_config
from recipes.schema import PreferenceSection
from tests.conftest import ROOT
from train.base_model import OFFLINE

STEPS = 3


def llamafactory_train(config, log):
    env = {**os.environ, **OFFLINE, "DISABLE_VERSION_CHECK": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([bin_of("train", "llamafactory-cli"), "train", str(config)], cwd=ROOT, env=env,
                          text=True, capture_output=True, timeout=900)
    log.write_text(done.stdout + done.stderr, encoding="utf-8")
    assert done.returncode == 0, f"llamafactory-cli train failed:\n{(done.stdout + done.stderr)[-4000:]}"


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pref")
    tree = yaml.safe_load((ROOT / "recipes" / "quickstart.yaml").read_text(encoding="utf-8"))
    tree["run_dir"] = str(tmp / "run")
    tree["data"].update(sources=[{"format": "qa-jsonl", "path": "data/samples/qa.jsonl"},
                                 {"format": "cmedqa2-pairs", "path": "data/samples/cmedqa2_pairs"}],
                        refusals={"count": 8}, pairs={"refusals": True}, noise={"share": 0.0},
                        max_reject_share=1.0)
    tree["finetune"].update(max_steps=4, save_steps=4, logging_steps=1)
    tree["preference"] = {"stage": "dpo", "pref_loss": "sigmoid", "pref_beta": 0.1, "max_steps": STEPS,
                          "learning_rate": 1.0e-3, "batch_size": 2, "gradient_accumulation": 1,
                          "extra": {"logging_steps": 1, "save_steps": STEPS}}
    path = tmp / "recipe.yaml"
    path.write_text(yaml.safe_dump(tree, allow_unicode=True), encoding="utf-8")
    return load_recipe(path)


def test_make_train_runs_sft_then_dpo_and_a_rerun_trains_nothing(recipe, monkeypatch):
    out = RunLayout.of(recipe).root
    summary = build(recipe.data, recipe.finetune.seed, out / "data")
    assert summary["pairs"]["train"] >= 10  # cMedQA2 pairs + refusal pairs
    result = training.run(recipe)
    assert result.trained and result.preference.trained
    assert (RunLayout.of(recipe).trained / "adapter_config.json").exists()

    rendered = yaml.safe_load((RunLayout.of(recipe).llamafactory / "preference.yaml").read_text())
    assert rendered["stage"] == "dpo" and rendered["adapter_name_or_path"] == str(RunLayout.of(recipe).trained.resolve())
    adapter = preference_dir(recipe)
    assert result.preference.output == adapter
    assert json.loads((adapter / "adapter_config.json").read_text())["peft_type"] == "LORA"
    logs = [json.loads(line) for line in (adapter / "trainer_log.jsonl").read_text().splitlines()]
    steps = [row for row in logs if "loss" in row]
    assert [row["current_steps"] for row in steps] == list(range(1, STEPS + 1))
    state = json.loads((adapter / "trainer_state.json").read_text())
    dpo_keys = {k for row in state["log_history"] for k in row}
    assert {"rewards/chosen", "rewards/rejected", "rewards/accuracies"} <= dpo_keys, dpo_keys
    print("DPO losses:", [round(row["loss"], 4) for row in steps],
          "rewards/accuracies:", [row.get("rewards/accuracies") for row in state["log_history"]])

    again = training.run(recipe)
    assert not again.trained and not again.preference.trained, "a finished SFT or DPO was trained again"

    # vLLM's launch plan mounts the DPO adapter beside the SFT one (read from its real adapter_config.json)
    monkeypatch.setenv("MEDKIT_SERVE_DEVICE", "cpu")
    launch = plan(recipe)
    assert launch.models == ["base", "med-lora", "med-lora-dpo"]
    assert f"med-lora-dpo={adapter.resolve()}" in " ".join(launch.argv)


def test_kto_from_the_same_sft_adapter(recipe):
    """The KTO form (kto_tag, one row per side) is accepted by LLaMA-Factory's `stage: kto`."""
    if not (RunLayout.of(recipe).trained / "adapter_config.json").exists():
        pytest.skip("needs the SFT adapter of test_make_train_runs_sft_then_dpo_and_a_rerun_trains_nothing")
    kto = recipe.model_copy(deep=True)
    kto.preference = PreferenceSection(stage="kto", max_steps=2, learning_rate=1.0e-3, batch_size=2,
                                       gradient_accumulation=1, extra={"logging_steps": 1, "save_steps": 2})
    config = write_preference_config(kto)
    assert yaml.safe_load(config.read_text())["dataset"] == "medkit_kto_train"
    llamafactory_train(config, RunLayout.of(recipe).trained.parent / "kto.log")
    adapter = preference_dir(kto)
    assert adapter.name == "adapter-kto" and (adapter / "adapter_config.json").exists()
    logs = [json.loads(line) for line in (adapter / "trainer_log.jsonl").read_text().splitlines()]
    losses = [row["loss"] for row in logs if "loss" in row]
    assert len(losses) == 2
    print("KTO losses:", [round(x, 4) for x in losses])
