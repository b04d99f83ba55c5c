"""`make train`: LoRA / full / QLoRA SFT through `llamafactory-cli train`.

Steps: build the datasets if missing, build the base model when it is the
tiny or a packaged one, render LLaMA-Factory's YAML, run it. Checkpoints land in the run
directory; re-running after an interruption resumes from the last one
(LLaMA-Factory finds it in output_dir). A finished run is not trained again
unless its rendered config changed.

Run as:
    python -m train recipes/quickstart.yaml [key.sub=value ...]
"""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

from converters.accounting import problems as data_problems
from converters.build import build as build_data
from envs import bin_of
from recipes.load import load_or_exit, run_dir, start_run
from recipes.render import trained_dir, write_configs
from recipes.schema import Recipe
from train.base_model import OFFLINE, base_model_stamp, ensure_base_model
from train.logged import run_logged

DONE = "medkit_train_done.json"  # written into output_dir when training finished


def ensure_data(recipe: Recipe) -> None:
    """Build the datasets when missing, refusing what `make data` refuses (empty sources, too many rejects)."""
    out = run_dir(recipe) / "data"
    if not (out / "dataset_info.json").exists():
        print("== data: no datasets in the run directory yet, building them")
        summary = build_data(recipe.data, recipe.finetune.seed, out)
        print(f"   splits: {summary['splits']}")
        found = data_problems(summary, recipe.data, out)
        if found:
            (out / "dataset_info.json").unlink()  # so the next `make train` checks again
            sys.exit("\n".join(f"error: {p}" for p in found) + "\nnot training on this data; fix it and "
                     "check with `make data`")


def config_digest(recipe: Recipe, train_yaml: Path) -> str:
    """What a finished training depends on: the rendered config and the dataset files."""
    digest = hashlib.sha256(train_yaml.read_bytes())
    data = run_dir(recipe) / "data"
    for file in sorted(data.glob("*.json*")):
        if file.name in ("dataset_info.json", "train.jsonl", "validation.jsonl"):
            digest.update(file.name.encode() + file.read_bytes())
    stamp = base_model_stamp(recipe)
    if stamp is not None and stamp.exists():
        digest.update(stamp.read_bytes())
    return digest.hexdigest()


def prepare_output_dir(output: Path, digest: str) -> bool:
    """True when training must run. Clears a dir holding nothing resumable."""
    done = output / DONE
    if done.exists():
        if json.loads(done.read_text()).get("config_sha256") == digest:
            return False
        # a finished run of another config or dataset: keep it, train the new one from scratch
        aside = output.with_name(f"{output.name}.previous-{int(time.time())}")
        output.rename(aside)
        print(f"   config or data changed since the last training; previous output kept in {aside}/")
    for partial in sorted(output.glob("checkpoint-*")):
        # the Trainer writes trainer_state.json last: without it the save was cut short
        if partial.name.split("-")[-1].isdigit() and not (partial / "trainer_state.json").exists():
            aside = partial.with_name(f"{partial.name}.incomplete-{int(time.time())}")
            partial.rename(aside)
            print(f"   {partial.name} was cut short while saving; moved aside to {aside.name}")
    complete = [p for p in output.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    if output.exists() and not complete:
        shutil.rmtree(output)  # an attempt that died before its first checkpoint: nothing to resume
    elif complete:
        last = max(complete, key=lambda p: int(p.name.split("-")[-1]))
        print(f"   resuming from {last}")
    return True


def main(argv: list[str]) -> int:
    recipe = load_or_exit(argv)
    out = start_run(recipe, "train")
    ensure_data(recipe)
    ensure_base_model(recipe)
    paths = write_configs(recipe)
    output = trained_dir(recipe)
    digest = config_digest(recipe, paths["train"])
    if not prepare_output_dir(output, digest):
        print(f"== train: already finished with this config: {output}/ (nothing to do)")
        return 0
    env = {"DISABLE_VERSION_CHECK": "1", **recipe.finetune.distributed.env(),
           # transformers 5 takes the TensorBoard directory from here (logging_dir is deprecated)
           "TENSORBOARD_LOGGING_DIR": str((out / "logs" / "tensorboard").resolve())}
    if recipe.model.offline:
        env.update(OFFLINE)
    shown = {k: v for k, v in env.items() if k in ("FORCE_TORCHRUN", "NNODES", "NODE_RANK", "NPROC_PER_NODE",
                                                   "MASTER_ADDR", "MASTER_PORT")}
    print(f"== train: llamafactory-cli train {paths['train']}" +
          (f"  ({' '.join(f'{k}={v}' for k, v in shown.items())})" if shown else ""))
    code = run_logged([bin_of("train", "llamafactory-cli"), "train", str(paths["train"])],
                      out / "logs" / "train.log", env)
    if code != 0:
        print(f"error: llamafactory-cli train exited {code}; log: {out}/logs/train.log. "
              f"Re-run `make train` to resume from the last checkpoint.", file=sys.stderr)
        return code
    (output / DONE).write_text(json.dumps({"config_sha256": digest}))
    plots = sorted(p.name for p in output.glob("training_*.png"))
    print(f"== train: done. output {output}/  loss plots {plots}  "
          f"tensorboard --logdir {out}/logs/tensorboard")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
