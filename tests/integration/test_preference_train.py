"""SFT then DPO on the tiny model, on CPU, through `make train`'s function and the real `llamafactory-cli train`.

cMedQA2-format pairs (data/samples/cmedqa2_pairs) and refusal pairs are built by `make data`'s
build; `make train` (train/training.py) runs a few LoRA SFT steps, then the preference stage
continues the adapter with DPO (sigmoid loss, the SFT model as reference) for a few steps; a rerun
trains nothing; vLLM's launch plan mounts both adapters. `make parity` then checks the DPO adapter
as a temporary vLLM (lora mode; there is no export, so merged mode is not checked) serves it, and
catches a reference with another adapter. Then KTO from the same SFT adapter.
"""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import replace

import pytest
import yaml

from converters.build import build
from core.errors import StageFailed
from core.layout import RunLayout
from core.layout import preference_dir
from core.recipe.load import load_recipe
from core.recipe.schema import PreferenceSection
from envs import bin_of
from serve import parity
from serve.vllm_cmd import plan, preference_paths
from tests.conftest import ROOT
from train import training
from train.base_model import OFFLINE
from train.render_preference import write_preference_config

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
    tree["parity"] = {"prompts": 3, "max_new_tokens": 16}
    # float32: after 2 DPO steps the two adapters' logits differ by 0.2-0.3, inside a bfloat16 server's
    # tolerance (parity.tolerance_16bit 0.5); only the float32 one (0.001) tells them apart
    tree["serve"]["dtype"] = "float32"
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


def test_parity_checks_the_dpo_adapter_as_vllm_serves_it_and_catches_another(recipe, monkeypatch, capsys):
    """One vLLM start (~60-90 s on 2 CPU cores): the second parity run replays what it served."""
    if not RunLayout.of(recipe).preference_done("dpo").exists():
        pytest.skip("needs the DPO adapter of test_make_train_runs_sft_then_dpo_and_a_rerun_trains_nothing")
    monkeypatch.setenv("MEDKIT_SERVE_DEVICE", "cpu")
    served, real_served_outputs = [], parity.served_outputs

    def served_once(recipe, wanted, chats):  # the first run asks vLLM, the second replays its answers
        if not served:
            served.append(real_served_outputs(recipe, wanted, chats))
        checked, outputs = served[0]  # the replay's own columns (their references), the servers' dtypes
        return [replace(column, dtype=asked.dtype) for column, asked in zip(wanted, checked)], outputs
    monkeypatch.setattr(parity, "served_outputs", served_once)

    result = parity.run(recipe)
    out = capsys.readouterr().out
    with capsys.disabled():
        print(out)  # the table, under -s
    assert "merged: not checked" in out and out.count("starting a temporary vLLM (lora)") == 1
    table = json.loads((RunLayout.of(recipe).parity / "parity.json").read_text())
    assert table["preference"]["model"] == "med-lora-dpo" and table["preference"]["mode"] == "lora"
    assert [row["preference"] for row in table["rows"]] == [row["preference"] for row in result.rows]
    assert all(row["preference"] == "match" or row["preference"].startswith("numerics")
               for row in result.rows), result.rows
    assert result.exact_matches["preference"] >= 1
    assert set(result.exact_matches) == {"lora", "base_beside_lora", "preference"}

    # the same served answers against transformers + peft with the SFT adapter in the DPO adapter's place
    sft = RunLayout.of(recipe).trained
    monkeypatch.setattr(parity, "preference_paths", lambda r, mode: {n: sft for n in preference_paths(r, mode)})
    with pytest.raises(StageFailed, match="differ from the trained model"):
        parity.run(recipe)
    swapped = json.loads((RunLayout.of(recipe).parity / "parity.json").read_text())
    out = capsys.readouterr().out
    with capsys.disabled():
        print(out)  # the table, under -s
    assert "starting a temporary vLLM" not in out
    assert any(row["preference"].startswith("MISMATCH") for row in swapped["rows"]), swapped["rows"]
    assert [row["lora"] for row in swapped["rows"]] == [row["lora"] for row in table["rows"]]


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
