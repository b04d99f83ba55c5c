from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from core.recipe.load import RecipeError, apply_override, load_recipe, parse_overrides, resolved_yaml
from tests.conftest import ROOT, run_module
from train.render import export_config, train_config, write_configs

SHIPPED = sorted((ROOT / "recipes").glob("*.yaml"))


def test_there_are_six_shipped_recipes():
    names = {p.name for p in SHIPPED}
    assert {"quickstart.yaml", "medqa_qwen2.5-0.5b_lora.yaml", "medqa_qwen2.5-0.5b_full.yaml",
            "cmedqa2_qwen2.5-7b_lora.yaml", "cmedqa2_qwen2.5-7b_qlora.yaml",
            "pubmed_mistral-7b_lora.yaml"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_recipe_validates(path):
    # real recipes point at data users download, so files are checked only for the offline lanes
    recipe = load_recipe(path, check_files=path.name in ("quickstart.yaml", "smollm2-135m_cpu_lora.yaml",
                                                         "smollm2-135m_cpu_dpo.yaml"))
    assert recipe.name
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#") and "make " in text, "each recipe starts with a header saying how to run it"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_the_resolved_recipe_loads_again_as_the_same_recipe(path, tmp_path):
    """What `make serve` writes for the gateway (every default spelt out) must load again: validators
    that object to a key being set must not object to its default written out."""
    recipe = load_recipe(path, check_files=False)
    dpo = recipe.preference is not None and recipe.preference.stage == "dpo"  # its kto twin is valid too
    for variant in (recipe, *([recipe.model_copy(update={"preference": recipe.preference.model_copy(
            update={"stage": "kto"})})] if dpo else [])):
        resolved = tmp_path / "resolved.yaml"
        resolved.write_text(resolved_yaml(variant), encoding="utf-8")
        assert load_recipe(resolved, check_files=False) == variant


def test_validate_cli_lists_every_error_and_exits_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    tree = yaml.safe_load((ROOT / "recipes/quickstart.yaml").read_text())
    tree["finetune"]["lora"]["rnak"] = 4                  # typo
    tree["finetune"]["epochs"] = "three"                  # wrong type
    tree["data"]["sources"][0]["path"] = "data/samples/missing.jsonl"  # missing path
    tree["model"]["name_or_path"] = "./no/such/model"
    bad.write_text(yaml.safe_dump(tree, allow_unicode=True))
    done = run_module("medkit.validate", str(bad))
    assert done.returncode == 2
    err = done.stderr
    assert "4 error(s)" in err
    assert "finetune.lora.rnak: unknown key (allowed here: alpha, dropout, rank, target)" in err
    assert "finetune.epochs = 'three'" in err
    assert "data.sources.0.path = 'data/samples/missing.jsonl': file not found" in err
    assert "model.name_or_path = './no/such/model': no such directory" in err
    assert str(bad) in err


def test_overrides_reach_nested_keys_and_list_items():
    recipe = load_recipe(ROOT / "recipes/quickstart.yaml",
                         ["finetune.epochs=1", "serve.port=8123", "data.sources.1.max_samples=5",
                          "finetune.extra.max_grad_norm=0.5"])
    assert recipe.finetune.epochs == 1
    assert recipe.serve.port == 8123
    assert recipe.data.sources[1].max_samples == 5
    assert recipe.finetune.extra == {"max_grad_norm": 0.5}


def test_override_syntax_error_is_reported():
    with pytest.raises(RecipeError, match="not key.sub=value"):
        parse_overrides(["finetune.epochs"])
    # a list split at its spaces by make's ARGS: a clear error naming the override, not a YAML traceback
    with pytest.raises(RecipeError, match=r"override 'eval.targets=\[\{name:': the value is not valid YAML.*quote"):
        parse_overrides(["eval.targets=[{name:", "sft}]"])


def test_apply_override_creates_sections():
    tree: dict = {}
    apply_override(tree, ["rag", "top_k"], 5)
    assert tree == {"rag": {"top_k": 5}}


def test_unsupported_head_dim_is_rejected():
    with pytest.raises(RecipeError, match="head_dim = hidden_size/num_heads = 16"):
        load_recipe(ROOT / "recipes/quickstart.yaml", ["model.tiny.num_heads=8"])


def test_full_finetune_cannot_mount_its_own_adapter():
    with pytest.raises(RecipeError, match="use serve.mode: merged"):
        load_recipe(ROOT / "recipes/medqa_qwen2.5-0.5b_full.yaml",
                    ["serve.mode=lora", "serve.adapters.0.name=x"], check_files=False)


def test_render_lora_qlora_full_and_passthrough(tmp_path):
    lora = load_recipe(ROOT / "recipes/quickstart.yaml", [f"run_dir={tmp_path}/q", "finetune.extra.max_grad_norm=0.5"])
    cfg = train_config(lora)
    assert cfg["finetuning_type"] == "lora" and cfg["lora_rank"] == 16 and cfg["template"] == "qwen"
    assert cfg["model_name_or_path"] == str((tmp_path / "q" / "tiny-model").resolve())
    assert cfg["output_dir"].endswith("/q/adapter") and cfg["report_to"] == "tensorboard" and cfg["plot_loss"]
    assert cfg["max_grad_norm"] == 0.5 and "bf16" not in cfg and "quantization_bit" not in cfg
    # LLaMA-Factory checkpoints activations by default; the recipe's false must switch that off
    assert cfg["disable_gradient_checkpointing"] is True
    assert export_config(lora)["export_dir"].endswith("/q/merged")

    qlora = load_recipe(ROOT / "recipes/cmedqa2_qwen2.5-7b_qlora.yaml", [f"run_dir={tmp_path}/c"], check_files=False)
    cfg = train_config(qlora)
    assert cfg["finetuning_type"] == "lora" and cfg["quantization_bit"] == 4 and cfg["bf16"] is True
    assert cfg["disable_gradient_checkpointing"] is False  # the 7B recipes ask for it
    assert cfg["model_name_or_path"] == "Qwen/Qwen2.5-7B-Instruct"

    full = load_recipe(ROOT / "recipes/medqa_qwen2.5-0.5b_full.yaml",
                       [f"run_dir={tmp_path}/f", "finetune.deepspeed=3"], check_files=False)
    paths = write_configs(full)
    cfg = yaml.safe_load(paths["train"].read_text())
    assert cfg["finetuning_type"] == "full" and "lora_rank" not in cfg
    assert cfg["output_dir"].endswith("/f/model")
    assert Path(cfg["deepspeed"]).exists()
    assert '"stage": 3' in paths["deepspeed"].read_text()


def test_distributed_knobs_become_launcher_environment():
    recipe = load_recipe(ROOT / "recipes/quickstart.yaml",
                         ["finetune.distributed.nnodes=2", "finetune.distributed.node_rank=1",
                          "finetune.distributed.master_addr=10.0.0.1", "finetune.distributed.master_port=29500"])
    assert recipe.finetune.distributed.env() == {
        "FORCE_TORCHRUN": "1", "NNODES": "2", "NODE_RANK": "1",
        "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500"}
    assert load_recipe(ROOT / "recipes/quickstart.yaml").finetune.distributed.env() == {}


@pytest.mark.parametrize("overrides, message", [
    (["finetune.distributed.nnodes=2", "finetune.distributed.node_rank=2", "finetune.distributed.master_addr=h",
      "finetune.distributed.master_port=29500"], "node_rank 2 is not below nnodes 2"),
    (["finetune.distributed.nnodes=2", "finetune.distributed.master_port=29500"], "nnodes > 1 needs master_addr"),
    (["finetune.distributed.nnodes=2", "finetune.distributed.master_addr=h"], "nnodes > 1 needs master_addr"),
])
def test_node_ranks_and_the_rendezvous_are_checked(overrides, message):
    with pytest.raises(RecipeError, match=message):
        load_recipe(ROOT / "recipes/quickstart.yaml", overrides)


NODE_1 = ["serve.data_parallel_size=2", "serve.data_parallel_nodes.size_local=1",
          "serve.data_parallel_nodes.address=127.0.0.1", "serve.data_parallel_nodes.rpc_port=13345"]


@pytest.mark.parametrize("overrides, message", [
    (NODE_1 + ["serve.data_parallel_nodes.start_rank=2"], "start_rank 2 \\+ size_local 1 passes data_parallel_size 2"),
    (NODE_1 + ["serve.data_parallel_nodes.size_local=2"], "leaves no replica for another node"),
    (NODE_1[:2] + NODE_1[3:], "serve.data_parallel_nodes.address: required key is missing"),
    (NODE_1[:3], "serve.data_parallel_nodes.rpc_port: required key is missing"),
])
def test_data_parallel_nodes_add_up(overrides, message):
    with pytest.raises(RecipeError, match=message):
        load_recipe(ROOT / "recipes/quickstart.yaml", overrides)
    assert load_recipe(ROOT / "recipes/quickstart.yaml", NODE_1 + ["serve.data_parallel_nodes.start_rank=1"]
                       ).serve.data_parallel_nodes.headless
