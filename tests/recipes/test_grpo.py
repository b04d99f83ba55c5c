"""preference.stage grpo in recipes: the rules validation enforces (each names its key), the names and
folders the stage gets, and the worker's settings. The 2-step run on the tiny model is in
tests/integration/test_grpo_train.py."""
from __future__ import annotations

import pytest

from core.layout import RunLayout
from core.recipe.load import RecipeError, load_recipe
from core.recipe.schema import REWARD_NAMES
from evaluation.rewards import REWARDS
from serve.vllm_cmd import preference_paths
from tests.conftest import ROOT
from train.grpo import settings

QUICKSTART = ROOT / "recipes/quickstart.yaml"


def grpo(tmp_path, *overrides):
    return load_recipe(QUICKSTART, [f"run_dir={tmp_path}/run", "preference.stage=grpo", *overrides])


def test_the_schema_lists_the_rewards_that_exist():
    assert list(REWARD_NAMES) == list(REWARDS)


@pytest.mark.parametrize("overrides, message", [
    (["preference.rewards={exam: 1, speed: 2}"], "preference.rewards: unknown reward(s) ['speed']"),
    (["preference.rewards={exam: 0, refusal: 0.0}"], "preference.rewards: every weight is zero"),
    (["finetune.method=full", "finetune.lora={}", "serve.mode=merged", "serve.adapters=[]"],
     "preference.start_from is 'adapter'"),
    (["preference.pref_beta=0.3"], "preference.pref_beta belong to stages dpo/kto"),
    (["preference.batch_size=6"], "preference.batch_size 6 (completions per step) must be a multiple"),
])
def test_invalid_grpo_sections_name_the_key(tmp_path, overrides, message):
    with pytest.raises(RecipeError) as err:
        grpo(tmp_path, *overrides)
    assert message in str(err.value)


def test_grpo_keys_are_refused_on_other_stages(tmp_path):
    with pytest.raises(RecipeError, match="preference.num_generations belong to stage grpo"):
        load_recipe(QUICKSTART, [f"run_dir={tmp_path}/run", "preference.stage=dpo", "preference.num_generations=8"])


def test_the_grpo_adapter_is_named_and_mounted_like_dpos(tmp_path):
    r = grpo(tmp_path)
    assert r.preference.method == "grpo" and r.preference.default_dataset == "medkit_train"
    assert preference_paths(r, "lora") == {"med-lora-grpo": RunLayout.of(r).root / "adapter-grpo"}
    assert preference_paths(r, "merged") == {}


def test_worker_settings_from_the_adapter_and_from_the_merged_model(tmp_path):
    r = grpo(tmp_path, "preference.rewards={exam: 1, format: 0, refusal: 2}", "preference.num_generations=2")
    layout = RunLayout.of(r)
    from_adapter = settings(r, layout.preference_adapter("grpo"))
    assert from_adapter["adapter"] == str(layout.trained.resolve())
    assert from_adapter["model"] == str(layout.tiny_model.resolve())
    assert from_adapter["rewards"] == {"exam": 1.0, "refusal": 2.0}  # a zero weight is not computed at all
    assert from_adapter["trainer"]["batch_size"] == 2  # one group per step unless batch_size says more
    merged = settings(grpo(tmp_path, "preference.start_from=merged"), layout.preference_adapter("grpo"))
    assert merged["adapter"] is None and merged["model"] == str(layout.merged.resolve())
    assert merged["lora"] == {"rank": r.finetune.lora.rank, "alpha": r.finetune.lora.alpha,
                              "dropout": r.finetune.lora.dropout}
