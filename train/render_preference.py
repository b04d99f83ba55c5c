"""Render a recipe's `preference` section into LLaMA-Factory's train config for the stage after SFT.

Pure: reads the recipe (and the run's dataset_info.json to check the dataset), returns a dict,
starts nothing. Apart from train/render.py (the SFT render) on purpose: the preference stage
is its own training run with its own output folder, started from what SFT left.

    stage                 dpo (pref_loss sigmoid | orpo | simpo) or kto
    start_from: adapter   model_name_or_path = the base model, adapter_name_or_path = the SFT adapter;
                          LLaMA-Factory keeps training that adapter, so the result is one adapter
                          (SFT + preference) that mounts on the base model like the SFT one
    start_from: merged    model_name_or_path = the merged (or full) SFT model, a new LoRA on it
    reference: sft        dpo-sigmoid / kto compare against the SFT model: ref_model (+ ref_model_adapters)
    reference: base       no ref_model: LLaMA-Factory switches the policy's adapter off (the base
                          model is the reference; for start_from merged that is the merged SFT model)
    output_dir            <run_dir>/adapter-<dpo|orpo|simpo|kto>/
Everything else (template, cutoff, precision, LoRA shape, logging) follows finetune, so the preference
model sees prompts exactly as SFT did; preference.extra passes any other key through verbatim.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.layout import RunLayout, base_model_path, preference_dir
from core.recipe.schema import Recipe
from train.render import train_config

# SFT keys that do not carry over: its datasets and its evaluation on the SFT validation split
_SFT_ONLY = ("dataset", "eval_dataset", "eval_strategy", "eval_steps", "per_device_eval_batch_size", "max_steps")


class PreferenceConfigError(ValueError):
    """The preference stage cannot be rendered (no section, no such dataset); the message says what to do."""


def method_name(recipe: Recipe) -> str:
    return recipe.preference.method


def check_dataset(recipe: Recipe, name: str) -> dict | None:
    """The dataset_info entry for `name` when the data is built (None before `make data`); an error when the
    data is built but holds no such entry, or one of the wrong kind for the stage."""
    info_path = RunLayout.of(recipe).dataset_info
    if not info_path.exists():
        return None
    info = json.loads(info_path.read_text())
    stage = recipe.preference.stage
    if name not in info:
        have = sorted(k for k, v in info.items() if v.get("ranking") or "kto_tag" in v.get("columns", {}))
        raise PreferenceConfigError(
            f"preference.dataset {name!r} is not in {info_path}; preference datasets there: {have or 'none'}. "
            f"Add a pair source (medicalgpt-preference, cmedqa2-pairs) or data.pairs, then `make data`.")
    entry = info[name]
    if stage == "dpo" and not entry.get("ranking"):
        raise PreferenceConfigError(f"preference.stage dpo needs a ranking dataset (\"ranking\": true); "
                                    f"{name!r} is not one (the KTO form is medkit_kto_<split>)")
    if stage == "kto" and "kto_tag" not in entry.get("columns", {}):
        raise PreferenceConfigError(f"preference.stage kto needs a dataset with a kto_tag column; {name!r} has none "
                                    f"(set data.pairs.kto: true and use medkit_kto_train)")
    return entry


def preference_config(recipe: Recipe) -> dict[str, Any]:
    pref, ft = recipe.preference, recipe.finetune
    if pref is None:
        raise PreferenceConfigError("the recipe has no preference section")
    dataset = pref.dataset or pref.default_dataset
    check_dataset(recipe, dataset)
    cfg = {k: v for k, v in train_config(recipe).items() if k not in _SFT_ONLY}
    cfg.update(stage=pref.stage, dataset=dataset, finetuning_type="lora",
               output_dir=str(preference_dir(recipe).resolve()), learning_rate=pref.learning_rate,
               num_train_epochs=pref.epochs, pref_beta=pref.pref_beta,
               pref_ftx=pref.pref_ftx,
               per_device_train_batch_size=pref.batch_size or ft.batch_size,
               gradient_accumulation_steps=pref.gradient_accumulation or ft.gradient_accumulation)
    if pref.stage == "dpo":
        cfg["pref_loss"] = pref.pref_loss
        if pref.pref_loss == "simpo":
            cfg["simpo_gamma"] = pref.simpo_gamma
    if pref.start_from == "adapter":
        cfg["adapter_name_or_path"] = str(RunLayout.of(recipe).trained.resolve())
        for key in ("lora_rank", "lora_alpha", "lora_dropout", "lora_target"):
            cfg.pop(key, None)  # the adapter brings its own shape
    else:
        cfg["model_name_or_path"] = str(RunLayout.of(recipe).merged.resolve())
        cfg.pop("quantization_bit", None), cfg.pop("quantization_method", None)
        cfg.update(lora_rank=ft.lora.rank, lora_alpha=ft.lora.alpha, lora_dropout=ft.lora.dropout,
                   lora_target=ft.lora.target)
    if pref.uses_reference and pref.reference == "sft":
        if pref.start_from == "adapter":
            cfg.update(ref_model=base_model_path(recipe), ref_model_adapters=str(RunLayout.of(recipe).trained.resolve()))
        else:
            cfg["ref_model"] = str(RunLayout.of(recipe).merged.resolve())
    if pref.max_steps:
        cfg["max_steps"] = pref.max_steps
    validation = dataset.replace("_train", "_validation")
    if validation != dataset and _has_entry(recipe, validation):
        cfg.update(eval_dataset=validation, eval_strategy="steps", eval_steps=ft.save_steps,
                   per_device_eval_batch_size=cfg["per_device_train_batch_size"])
    cfg.update(pref.extra)
    return cfg


def _has_entry(recipe: Recipe, name: str) -> bool:
    info_path = RunLayout.of(recipe).dataset_info
    return info_path.exists() and name in json.loads(info_path.read_text())


def write_preference_config(recipe: Recipe) -> Path:
    """<run_dir>/llamafactory/preference.yaml, what `llamafactory-cli train` reads for the stage."""
    import yaml

    folder = RunLayout.of(recipe).llamafactory
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "preference.yaml"
    path.write_text(yaml.safe_dump(preference_config(recipe), sort_keys=False, allow_unicode=True))
    return path
