"""Render a recipe into LLaMA-Factory's own YAML configs (train and export).

We never re-implement LLaMA-Factory options: the recipe names the common ones,
`finetune.extra` passes any other key through verbatim, and the rendered file
is what `llamafactory-cli` reads, saved in the run directory for inspection.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.layout import RunLayout, base_model_path
from core.recipe.packaged import default_system
from core.recipe.schema import Recipe

# ZeRO configs with "auto" values, filled in by the HF Trainer from the recipe.
_ZERO = {
    0: {"stage": 0},
    2: {"stage": 2, "allgather_partitions": True, "overlap_comm": False,
        "reduce_scatter": True, "contiguous_gradients": True},
    3: {"stage": 3, "overlap_comm": False, "contiguous_gradients": True,
        "stage3_gather_16bit_weights_on_model_save": True},
}


def deepspeed_file(layout: RunLayout, stage: int) -> Path:
    return layout.llamafactory / f"ds_z{stage}.json"


def deepspeed_config(stage: int, precision: str) -> dict:
    return {
        "train_batch_size": "auto", "train_micro_batch_size_per_gpu": "auto",
        "gradient_accumulation_steps": "auto", "gradient_clipping": "auto",
        "zero_allow_untested_optimizer": True,
        "bf16": {"enabled": precision == "bf16"},
        "fp16": {"enabled": precision == "fp16", "loss_scale": 0, "initial_scale_power": 16},
        "zero_optimization": _ZERO[stage],
    }


def train_config(recipe: Recipe) -> dict[str, Any]:
    ft, layout = recipe.finetune, RunLayout.of(recipe)
    info = json.loads(layout.dataset_info.read_text()) if layout.dataset_info.exists() else {}
    cfg: dict[str, Any] = {
        "model_name_or_path": base_model_path(recipe),
        "trust_remote_code": recipe.model.trust_remote_code,
        "stage": "sft",
        "do_train": True,
        "finetuning_type": "full" if ft.method == "full" else "lora",
        "dataset_dir": str(layout.data.resolve()),
        "dataset": "medkit_train",
        "template": recipe.model.template,
        "cutoff_len": ft.cutoff_len,
        "overwrite_cache": True,
        "preprocessing_num_workers": 1,
        "dataloader_num_workers": 0,
        "output_dir": str(layout.trained.resolve()),
        "report_to": "tensorboard",
        "logging_steps": ft.logging_steps,
        "save_steps": ft.save_steps,
        "save_total_limit": ft.save_total_limit,
        "plot_loss": True,
        "overwrite_output_dir": False,  # keeps checkpoints so an interrupted run resumes
        "per_device_train_batch_size": ft.batch_size,
        "gradient_accumulation_steps": ft.gradient_accumulation,
        "learning_rate": ft.learning_rate,
        "num_train_epochs": ft.epochs,
        "lr_scheduler_type": ft.scheduler,
        "warmup_ratio": ft.warmup_ratio,
        "seed": ft.seed,
        "flash_attn": ft.flash_attn,
        "gradient_checkpointing": ft.gradient_checkpointing,
        # LLaMA-Factory checkpoints activations unless told not to; on small models and
        # CPUs the recomputation costs about a third of the step for memory nobody needs
        "disable_gradient_checkpointing": not ft.gradient_checkpointing,
        "ddp_timeout": 180000000,
    }
    if ft.method != "full":
        cfg.update(lora_rank=ft.lora.rank, lora_alpha=ft.lora.alpha,
                   lora_dropout=ft.lora.dropout, lora_target=ft.lora.target)
    if ft.method == "qlora":
        cfg.update(quantization_bit=ft.quantization_bit, quantization_method="bnb")
    if ft.precision in ("bf16", "fp16"):
        cfg[ft.precision] = True
    if ft.max_steps:
        cfg["max_steps"] = ft.max_steps
    if default_system(recipe.model.name_or_path):
        cfg["default_system"] = default_system(recipe.model.name_or_path)
    if ft.deepspeed is not None:
        cfg["deepspeed"] = str(deepspeed_file(layout, ft.deepspeed).resolve())
    if "medkit_validation" in info:
        cfg.update(eval_dataset="medkit_validation", eval_strategy="steps",
                   eval_steps=ft.save_steps, per_device_eval_batch_size=ft.batch_size)
    cfg.update(ft.extra)
    return cfg


def export_config(recipe: Recipe) -> dict[str, Any]:
    return {
        "model_name_or_path": base_model_path(recipe),
        "adapter_name_or_path": str(RunLayout.of(recipe).trained.resolve()),
        "template": recipe.model.template,
        "finetuning_type": "lora",
        "trust_remote_code": recipe.model.trust_remote_code,
        "export_dir": str(RunLayout.of(recipe).merged.resolve()),
        "export_size": recipe.export.shard_size_gb,
        "export_device": recipe.export.device,
        "export_legacy_format": False,
    }


def write_configs(recipe: Recipe) -> dict[str, Path]:
    """Write train.yaml, export.yaml (and a DeepSpeed JSON) into <run_dir>/llamafactory/."""
    import yaml

    layout = RunLayout.of(recipe)
    folder = layout.llamafactory
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"train": folder / "train.yaml", "export": folder / "export.yaml"}
    paths["train"].write_text(yaml.safe_dump(train_config(recipe), sort_keys=False, allow_unicode=True))
    paths["export"].write_text(yaml.safe_dump(export_config(recipe), sort_keys=False, allow_unicode=True))
    if recipe.finetune.deepspeed is not None:
        ds = deepspeed_file(layout, recipe.finetune.deepspeed)
        ds.write_text(json.dumps(deepspeed_config(recipe.finetune.deepspeed, recipe.finetune.precision), indent=2))
        paths["deepspeed"] = ds
    return paths
