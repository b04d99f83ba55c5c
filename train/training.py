"""`make train`: LoRA / full / QLoRA SFT through `llamafactory-cli train`, as a function of the recipe.

Steps (SFT): build the datasets if missing (with every check `make data` applies: empty sources,
too many rejects, no training split), build the base model when it is the tiny or a
packaged one, render LLaMA-Factory's YAML, run it. Checkpoints land in the run
directory; re-running after an interruption resumes from the last one (LLaMA-Factory
finds it in output_dir). A finished run is not trained again unless its rendered config
or its data changed. With a `preference` section, the preference stage (DPO / ORPO / SimPO /
KTO, train/preference.py) follows in the same command, resumed and skipped the same way.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import converters.build as data_stage
from core.layout import RunLayout
from core.stage import StageFailed, begin
from envs import bin_of
from recipes.render import write_configs
from recipes.schema import Recipe
from train.base_model import OFFLINE, base_model_stamp, ensure_base_model
from train.logged import run_logged

DIGEST_FILES = ("dataset_info.json", "train.jsonl", "validation.jsonl")  # the data a training depends on


@dataclass
class TrainResult:
    output: Path        # the adapter (lora/qlora) or the full model
    trained: bool       # False when a finished run with the same config and data was found
    preference: Optional["TrainResult"] = None  # the preference stage's result, when the recipe has one


def ensure_data(recipe: Recipe) -> None:
    """Build the datasets when missing; refuse built data that `make data` would refuse."""
    if not data_stage.check_built(recipe):
        print("== data: no datasets in the run directory yet, building them")
        data_stage.run(recipe)


def config_digest(recipe: Recipe, train_yaml: Path) -> str:
    """What a finished training depends on: the rendered config and the dataset files."""
    digest = hashlib.sha256(train_yaml.read_bytes())
    for file in sorted(RunLayout.of(recipe).data.glob("*.json*")):
        if file.name in DIGEST_FILES:
            digest.update(file.name.encode() + file.read_bytes())
    stamp = base_model_stamp(recipe)
    if stamp is not None and stamp.exists():
        digest.update(stamp.read_bytes())
    return digest.hexdigest()


def unused_name(path: Path, tag: str) -> Path:
    """<path>.<tag>, or <path>.<tag>-2, -3, ... when that exists (two set asides within a second)."""
    aside, n = path.with_name(f"{path.name}.{tag}"), 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.{tag}-{n}")
    return aside


def prepare_output_dir(output: Path, done: Path, digest: str) -> bool:
    """True when training must run. Clears a dir holding nothing resumable."""
    if done.exists():
        if json.loads(done.read_text()).get("config_sha256") == digest:
            return False
        # a finished run of another config or dataset: keep it, train the new one from scratch
        aside = unused_name(output, f"previous-{int(time.time())}")
        output.rename(aside)
        print(f"   config or data changed since the last training; previous output kept in {aside}/")
    for partial in sorted(output.glob("checkpoint-*")):
        # the Trainer writes trainer_state.json last: without it the save was cut short
        if partial.name.split("-")[-1].isdigit() and not (partial / "trainer_state.json").exists():
            aside = unused_name(partial, f"incomplete-{int(time.time())}")
            partial.rename(aside)
            print(f"   {partial.name} was cut short while saving; moved aside to {aside.name}")
    complete = [p for p in output.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    if output.exists() and not complete:
        shutil.rmtree(output)  # an attempt that died before its first checkpoint: nothing to resume
    elif complete:
        last = max(complete, key=lambda p: int(p.name.split("-")[-1]))
        print(f"   resuming from {last}")
    return True


def train_env(recipe: Recipe, tensorboard: Path) -> dict[str, str]:
    """The environment of `llamafactory-cli train` (SFT and the preference stage alike)."""
    env = {"DISABLE_VERSION_CHECK": "1", **recipe.finetune.distributed.env(),
           # transformers 5 takes the TensorBoard directory from here (logging_dir is deprecated)
           "TENSORBOARD_LOGGING_DIR": str(tensorboard.resolve())}
    if recipe.model.offline:
        env.update(OFFLINE)
    return env


def run(recipe: Recipe) -> TrainResult:
    """SFT, then the preference stage when the recipe has one (train/preference.py)."""
    result = run_sft(recipe)
    if recipe.preference is not None:
        from train import preference  # it builds on this module's helpers
        result.preference = preference.run(recipe)
    return result


def run_sft(recipe: Recipe) -> TrainResult:
    layout = begin(recipe, "train")
    ensure_data(recipe)
    ensure_base_model(recipe)
    paths = write_configs(recipe)
    output = layout.trained
    digest = config_digest(recipe, paths["train"])
    if not prepare_output_dir(output, layout.train_done, digest):
        print(f"== train: already finished with this config: {output}/ (nothing to do)")
        return TrainResult(output, trained=False)
    env = train_env(recipe, layout.tensorboard)
    shown = {k: v for k, v in env.items() if k in ("FORCE_TORCHRUN", "NNODES", "NODE_RANK", "NPROC_PER_NODE",
                                                   "MASTER_ADDR", "MASTER_PORT")}
    print(f"== train: llamafactory-cli train {paths['train']}" +
          (f"  ({' '.join(f'{k}={v}' for k, v in shown.items())})" if shown else ""))
    log = layout.log("train")
    code = run_logged([bin_of("train", "llamafactory-cli"), "train", str(paths["train"])], log, env)
    if code != 0:
        raise StageFailed(f"llamafactory-cli train exited {code}; log: {log}. "
                          f"Re-run `make train` to resume from the last checkpoint.", code)
    layout.train_done.write_text(json.dumps({"config_sha256": digest}))
    plots = sorted(p.name for p in output.glob("training_*.png"))
    print(f"== train: done. output {output}/  loss plots {plots}  tensorboard --logdir {layout.tensorboard}")
    return TrainResult(output, trained=True)
