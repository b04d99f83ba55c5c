"""Runs inside the train environment: GRPO with TRL's GRPOTrainer, rewarded by evaluation/rewards.py.

    python -m train.grpo_worker SETTINGS.json

SETTINGS.json (written by train/grpo.py): model (what the policy starts from), adapter (the SFT
adapter to continue, or None to put a new LoRA on `model`), lora (rank, alpha, dropout for that new
one), rows (the train split), rewards {name: weight}, output, and the trainer's numbers. Writes the
adapter into `output`, its per-step log (trainer_log.jsonl) and the reward and loss curves
(training_rewards.png, training_loss.png). Resumes from the last complete checkpoint in `output`.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

# LLaMA-Factory patches transformers' package probe; without it importing trl's GRPOTrainer fails with
# "No module named 'mergekit'" in this environment (trl asks the probe whether mergekit is there)
import llamafactory.extras.packages  # noqa: F401,E402

from core.chat_rows import prompt_messages, split_rows  # noqa: E402
from evaluation.rewards import reward_functions  # noqa: E402


def dataset(rows_file: str):
    from datasets import Dataset
    return Dataset.from_list([{"prompt": prompt_messages(row), "reference": row["output"]}
                              for row in split_rows(Path(rows_file))])


def policy(settings: dict):
    """(model, peft_config): the SFT adapter made trainable on the base, or the merged model with a new LoRA
    for the trainer to add."""
    import torch
    from peft import LoraConfig, PeftModel
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(settings["model"], dtype=torch.float32)
    if settings["adapter"]:
        return PeftModel.from_pretrained(model, settings["adapter"], is_trainable=True), None
    lora = settings["lora"]
    return model, LoraConfig(r=lora["rank"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
                             target_modules="all-linear", task_type="CAUSAL_LM")


def last_checkpoint(output: Path) -> str | None:
    done = [p for p in output.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()
            and (p / "trainer_state.json").exists()]
    return str(max(done, key=lambda p: int(p.name.split("-")[-1]))) if done else None


def write_log(history: list[dict], output: Path) -> list[dict]:
    steps = [row for row in history if "reward" in row]
    with (output / "trainer_log.jsonl").open("w") as fh:
        for row in steps:
            fh.write(json.dumps(row) + "\n")
    return steps


def plot(steps: list[dict], names: list[str], output: Path) -> None:
    """training_rewards.png (each reward's mean and the weighted total, per step) and training_loss.png."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    x = [row["step"] for row in steps]
    fig, ax = plt.subplots(figsize=(7, 4))
    for name in names:
        key = f"rewards/{name}/mean"
        ax.plot(x, [row.get(key, float("nan")) for row in steps], marker=".", label=name)
    ax.plot(x, [row["reward"] for row in steps], color="black", linewidth=2, label="weighted total")
    ax.set(xlabel="step", ylabel="mean reward of the step's completions", title="GRPO rewards")
    ax.legend()
    fig.tight_layout()
    fig.savefig(output / "training_rewards.png", dpi=100)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(x, [row.get("loss", float("nan")) for row in steps], marker=".")
    ax.set(xlabel="step", ylabel="loss", title="GRPO loss")
    fig.tight_layout()
    fig.savefig(output / "training_loss.png", dpi=100)


def main(argv: list[str]) -> int:
    settings = json.loads(Path(argv[0]).read_text())
    from transformers import AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer
    output = Path(settings["output"])
    names = list(settings["rewards"])
    t = settings["trainer"]
    args = GRPOConfig(
        output_dir=str(output), bf16=False, seed=t["seed"], learning_rate=t["learning_rate"],
        num_train_epochs=t["epochs"], max_steps=t["max_steps"] or -1,
        per_device_train_batch_size=t["batch_size"], gradient_accumulation_steps=t["gradient_accumulation"],
        num_generations=t["num_generations"], max_completion_length=t["max_completion_length"],
        max_prompt_length=t["max_prompt_length"], temperature=t["temperature"], beta=t["kl_beta"],
        reward_weights=[settings["rewards"][n] for n in names], logging_steps=1,
        save_steps=t["save_steps"], save_total_limit=t["save_total_limit"], report_to=["tensorboard"],
        use_vllm=settings["rollout"] == "vllm", vllm_mode="colocate")
    model, peft_config = policy(settings)
    # TRL 0.24 writes into `model.warnings_issued`, which transformers 5 no longer defines
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    base.warnings_issued = getattr(base, "warnings_issued", {})
    tokenizer = AutoTokenizer.from_pretrained(settings["model"])
    trainer = GRPOTrainer(model=model, reward_funcs=reward_functions(names), args=args,
                          train_dataset=dataset(settings["rows"]),
                          processing_class=tokenizer, peft_config=peft_config)
    trainer.train(resume_from_checkpoint=last_checkpoint(output))
    trainer.save_model(str(output))
    steps = write_log(trainer.state.log_history, output)
    plot(steps, names, output)
    print(f"grpo: {len(steps)} steps; last reward {steps[-1]['reward']:.3f}" if steps else "grpo: no step logged",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
