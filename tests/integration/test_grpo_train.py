"""SFT then GRPO on the tiny model, on CPU: `make train`'s function runs LLaMA-Factory for a few SFT steps,
then TRL's GRPOTrainer (train/grpo_worker.py in the train environment) for 2 steps from the SFT adapter,
with every reward of evaluation/rewards.py called; the adapter, its log and curves land in adapter-grpo/,
a rerun trains nothing, and vLLM's launch plan mounts the adapter beside the SFT one."""
from __future__ import annotations

import json

import pytest

from converters.build import build
from core.layout import RunLayout
from core.recipe.load import load_recipe
from core.recipe.schema import REWARD_NAMES
from serve.vllm_cmd import plan
from tests.conftest import ROOT
from train import training

STEPS = 2


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    run = tmp_path_factory.mktemp("grpo") / "run"
    return load_recipe(ROOT / "recipes/quickstart.yaml", [
        f"run_dir={run}", "finetune.max_steps=4", "finetune.save_steps=4", "finetune.logging_steps=1",
        "preference.stage=grpo", f"preference.max_steps={STEPS}", "preference.num_generations=2",
        "preference.batch_size=4", "preference.max_completion_length=16", "preference.learning_rate=1.0e-4",
        "preference.rewards={exam: 1, format: 0.5, citations: 1, refusal: 1}"])


def test_make_train_runs_sft_then_grpo_with_every_reward(recipe, monkeypatch):
    layout = RunLayout.of(recipe)
    build(recipe.data, recipe.finetune.seed, layout.data)
    result = training.run(recipe)
    assert result.trained and result.preference.trained
    adapter = layout.preference_adapter("grpo")
    assert result.preference.output == adapter and layout.preference_done("grpo").exists()
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == recipe.finetune.lora.rank  # the SFT adapter, continued
    steps = [json.loads(line) for line in (adapter / "trainer_log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in steps] == list(range(1, STEPS + 1))
    for name in REWARD_NAMES:  # TRL logs a mean per reward function it called (NaN where none applied)
        assert all(f"rewards/{name}/mean" in row for row in steps), (name, steps[0].keys())
    assert all(row["completions/mean_length"] > 0 for row in steps)
    for png in ("training_rewards.png", "training_loss.png"):
        assert (adapter / png).read_bytes()[:4] == b"\x89PNG"

    again = training.run(recipe)
    assert not again.trained and not again.preference.trained, "a finished SFT or GRPO was trained again"

    monkeypatch.setenv("MEDKIT_SERVE_DEVICE", "cpu")
    launch = plan(recipe)
    assert launch.models == ["base", "med-lora", "med-lora-grpo"]
    assert f"med-lora-grpo={adapter.resolve()}" in " ".join(launch.argv)
