"""The preference stage with `stage: grpo`: GRPO after SFT through TRL's GRPOTrainer (LLaMA-Factory has no
GRPO stage), rewarded by the toolkit's own scorers (evaluation/rewards.py: exam answer right, five-section
format, citations a passage supports, refusing exactly what the reference refuses), weighted by
preference.rewards. train/preference.py hands the stage here.

The prompts are the SFT training examples (the train split, as chats); each example's answer is what
the rewards compare a sampled completion with. start_from adapter continues the SFT adapter (served on
the base model like DPO's); start_from merged trains a new LoRA on the merged SFT model. The adapter
lands in <run_dir>/adapter-grpo/ with its per-step log, training_rewards.png and training_loss.png, and
is stamped done like SFT: the digest covers the worker's settings, the train split, SFT's stamp and
(start_from merged) the merged model's digest. An interrupted run resumes from its last checkpoint.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from core.errors import StageFailed
from core.layout import RunLayout, base_model_path
from core.logged import run_logged
from core.recipe.schema import Recipe
from envs import bin_of
from envs.manage import has_nvidia_gpu
from train.export import merged_digest
from train.resume import TrainResult, prepare_output_dir, train_env


def settings(recipe: Recipe, output: Path) -> dict:
    """What train/grpo_worker.py reads."""
    pref, ft, layout = recipe.preference, recipe.finetune, RunLayout.of(recipe)
    from_adapter = pref.start_from == "adapter"
    return {
        "model": base_model_path(recipe) if from_adapter else str(layout.merged.resolve()),
        "adapter": str(layout.trained.resolve()) if from_adapter else None,
        "lora": {"rank": ft.lora.rank, "alpha": ft.lora.alpha, "dropout": ft.lora.dropout},
        "rows": str(layout.split("train").resolve()),
        "rewards": {name: weight for name, weight in pref.rewards.items() if weight},
        "rollout": pref.rollout,
        "output": str(output.resolve()),
        "trainer": {"seed": ft.seed, "learning_rate": pref.learning_rate, "epochs": pref.epochs,
                    "max_steps": pref.max_steps, "batch_size": pref.batch_size or pref.num_generations,
                    "gradient_accumulation": pref.gradient_accumulation or 1,
                    "num_generations": pref.num_generations, "max_completion_length": pref.max_completion_length,
                    "max_prompt_length": ft.cutoff_len, "temperature": pref.temperature, "kl_beta": pref.kl_beta,
                    "save_steps": ft.save_steps, "save_total_limit": ft.save_total_limit},
    }


def digest(recipe: Recipe, worker_settings: dict) -> str:
    layout = RunLayout.of(recipe)
    sha = hashlib.sha256(json.dumps(worker_settings, sort_keys=True).encode())
    sha.update(layout.split("train").read_bytes())
    sha.update(layout.train_done.read_bytes())  # a retrained SFT adapter means a new start
    if recipe.preference.start_from == "merged":
        sha.update(merged_digest(layout).encode())
    return sha.hexdigest()


def last_rewards(output: Path) -> str:
    log = output / "trainer_log.jsonl"
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.exists() else []
    if not rows:
        return "no step logged"
    first, last = rows[0], rows[-1]
    return f"{len(rows)} steps, reward {first['reward']:.3f} at step 1 -> {last['reward']:.3f} at the last"


def run(recipe: Recipe) -> TrainResult:
    layout = RunLayout.of(recipe)
    output = layout.preference_adapter("grpo")
    print("== train (grpo): GRPO after SFT (TRL), rewards " +
          ", ".join(f"{n} x{w:g}" for n, w in recipe.preference.rewards.items() if w))
    if not layout.train_done.exists():
        raise StageFailed(f"grpo stage: SFT has not finished in {layout.trained}/; `make train` runs it first")
    if recipe.preference.start_from == "merged" and not layout.has_merged:
        raise StageFailed(f"preference.start_from is 'merged' but there is no merged SFT model in {layout.merged}/: "
                          f"run `make export`, then `make train` again (SFT is done and will not be retrained)", 2)
    if recipe.preference.rollout == "vllm" and not has_nvidia_gpu():
        raise StageFailed("preference.rollout is 'vllm': TRL runs vLLM inside the training process, which needs a "
                          "GPU and vllm in the train environment; on this machine use rollout: transformers", 2)
    if not layout.split("train").exists():
        raise StageFailed(f"grpo stage: no training examples in {layout.split('train')}; run `make data` first")
    worker = settings(recipe, output)
    stamp = digest(recipe, worker)
    if not prepare_output_dir(output, layout.preference_done("grpo"), stamp):
        print(f"== train (grpo): already finished with these settings and data: {output}/ (nothing to do)")
        return TrainResult(output, trained=False)
    output.mkdir(parents=True, exist_ok=True)
    settings_file = layout.llamafactory / "grpo.json"
    settings_file.parent.mkdir(parents=True, exist_ok=True)
    settings_file.write_text(json.dumps(worker, indent=2))
    log = layout.log("train-grpo")
    code = run_logged([bin_of("train"), "-m", "train.grpo_worker", str(settings_file)], log,
                      train_env(recipe, layout.tensorboard / "grpo"))
    if code != 0:
        raise StageFailed(f"GRPO (trl) exited {code}; log: {log}. Re-run `make train` to resume from the last "
                          f"checkpoint.", code)
    layout.preference_done("grpo").write_text(json.dumps({"config_sha256": stamp}))
    print(f"== train (grpo): done. adapter {output}/  {last_rewards(output)}; curves in {output}/training_rewards.png")
    return TrainResult(output, trained=True)
