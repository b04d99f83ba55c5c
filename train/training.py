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
from pathlib import Path

import converters.build as data_stage
from core.layout import RunLayout
from core.logged import run_logged
from core.recipe.schema import Recipe
from core.stage import StageFailed, begin
from envs import bin_of
from train import preference
from train.base_model import base_model_stamp, ensure_base_model
from train.render import write_configs
from train.resume import TrainResult, prepare_output_dir, train_env

DIGEST_FILES = ("dataset_info.json", "train.jsonl", "validation.jsonl")  # the data a training depends on


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


def run(recipe: Recipe) -> TrainResult:
    """SFT, then the preference stage when the recipe has one (train/preference.py)."""
    result = run_sft(recipe)
    if recipe.preference is not None:
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
    dist = recipe.finetune.distributed
    if dist.node_rank > 0:  # the Trainer saves on global rank 0 only
        print(f"== train: node {dist.node_rank} of {dist.nnodes} done; node 0 saved the adapter in its run directory")
        return TrainResult(output, trained=True)
    plots = sorted(p.name for p in output.glob("training_*.png"))
    print(f"== train: done. output {output}/  loss plots {plots}  tensorboard --logdir {layout.tensorboard}")
    return TrainResult(output, trained=True)
