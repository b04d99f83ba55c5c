"""What SFT (train/training.py) and the preference stage (train/preference.py) share: the result,
the done stamp and resume rules of an output folder, and the trainer's environment."""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from core.endpoints import unresolvable
from core.errors import StageFailed
from core.recipe.schema import Recipe
from envs import bin_of
from envs.manage import has_nvidia_gpu
from train.base_model import OFFLINE


@dataclass
class TrainResult:
    output: Path        # the adapter (lora/qlora) or the full model
    trained: bool       # False when a finished run with the same config and data was found
    preference: Optional["TrainResult"] = None  # the preference stage's result, when the recipe has one


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
    if "FORCE_TORCHRUN" in env:
        env.update(torchrun_env(recipe))
    if recipe.model.offline:
        env.update(OFFLINE)
    return env


def torchrun_env(recipe: Recipe) -> dict[str, str]:
    """What LLaMA-Factory's torchrun launch needs beyond the recipe's knobs: `torchrun` on PATH (it runs
    it by name) and, without a GPU, a process count (it counts GPUs for NPROC_PER_NODE: 0 here)."""
    if recipe.finetune.distributed.nproc_per_node is None and not has_nvidia_gpu():
        raise StageFailed("finetune.distributed: torchrun on a machine without a GPU needs nproc_per_node "
                          "(processes on this node, e.g. 2; LLaMA-Factory counts GPUs for it, and finds 0)", 2)
    addr = recipe.finetune.distributed.master_addr
    why = unresolvable(addr) if addr else None
    if why:
        raise StageFailed(f"finetune.distributed.master_addr {addr!r} does not resolve ({why}); "
                          f"give node 0's address as every node reaches it", 2)
    torchrun = Path(bin_of("train", "torchrun"))
    return {"PATH": os.pathsep.join(filter(None, [str(torchrun.parent), os.environ.get("PATH")]))}
