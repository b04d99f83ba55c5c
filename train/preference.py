"""The preference stage of `make train`: DPO (sigmoid / orpo / simpo) or KTO after SFT, through
`llamafactory-cli train` (stage grpo: train/grpo.py, through TRL). train/training.py calls it after SFT
when the recipe has `preference:`.

Steps: check SFT finished, render <run_dir>/llamafactory/preference.yaml (train/render_preference.py;
a dataset missing from dataset_info.json, of the wrong kind, or empty is a stage error, exit 2), train
into <run_dir>/adapter-<dpo|orpo|simpo|kto>/ and stamp it done like SFT. The stamp's digest covers the
rendered config, the pair datasets (medkit_pairs_*, medkit_kto_*, dataset_info.json), SFT's own
stamp and, with `start_from: merged`, the merged model's digest (train/export.py stamps it): changed
pairs, a retrained SFT or a re-export that changed the merged model train the stage again; otherwise
a rerun does nothing. An interrupted run resumes from its last checkpoint, as SFT does (train/training.py).

`start_from: merged` trains a new LoRA on the merged SFT model that `make export` writes. This stage
does not export by itself (an export of a 7B model is slow and has its own checks and target): when
the merged model is missing it stops and says so; SFT stays done, so `make export` then `make train`
runs only the preference stage.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from core.errors import StageFailed
from core.layout import RunLayout
from core.logged import run_logged
from core.recipe.schema import Recipe
from envs import bin_of
from train import grpo
from train.export import merged_digest
from train.render_preference import PreferenceConfigError, check_dataset, method_name, write_preference_config
from train.resume import TrainResult, prepare_output_dir, train_env

PAIR_FILES = ("medkit_pairs_", "medkit_kto_")  # the preference datasets `make data` writes


def config_digest(recipe: Recipe, config: Path) -> str:
    """What a finished preference stage depends on: its config, the pair data, the SFT result (and the
    merged model it trains on with start_from: merged)."""
    layout = RunLayout.of(recipe)
    digest = hashlib.sha256(config.read_bytes())
    for file in sorted(layout.data.glob("*.json*")):
        if file.name == layout.dataset_info.name or file.name.startswith(PAIR_FILES):
            digest.update(file.name.encode() + file.read_bytes())
    digest.update(layout.train_done.read_bytes())  # a retrained SFT adapter means a new start
    if recipe.preference.start_from == "merged":
        digest.update(merged_digest(layout).encode())  # so does a re-export (the same path, a new model)
    return digest.hexdigest()


def render(recipe: Recipe) -> Path:
    """The rendered config; the render's dataset errors (and an empty dataset) as stage errors."""
    pref = recipe.preference
    name = pref.dataset or pref.default_dataset
    try:
        config = write_preference_config(recipe)
        entry = check_dataset(recipe, name)
    except PreferenceConfigError as exc:
        raise StageFailed(f"preference stage: {exc}", 2) from None
    rows = RunLayout.of(recipe).data / entry["file_name"] if entry else None
    if rows is None or not rows.exists() or not rows.read_text(encoding="utf-8").strip():
        raise StageFailed(f"preference stage: dataset {name!r} holds no pairs ({rows}); every pair was rejected "
                          f"or no pair source is configured: see the data report's rejects, then `make data`", 2)
    return config


def last_figures(adapter: Path) -> dict:
    """The last logged loss (and DPO reward accuracy) of the run, for the summary line."""
    log = adapter / "trainer_log.jsonl"
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.exists() else []
    steps = [r for r in rows if "loss" in r]
    return {"steps": len(steps), "loss": steps[-1]["loss"] if steps else None}


def run(recipe: Recipe) -> TrainResult:
    if recipe.preference.stage == "grpo":
        return grpo.run(recipe)  # TRL, not llamafactory-cli: LLaMA-Factory has no GRPO stage
    layout = RunLayout.of(recipe)
    method = method_name(recipe)
    output = layout.preference_adapter(method)
    print(f"== train ({method}): the preference stage after SFT")
    if not layout.train_done.exists():
        raise StageFailed(f"preference stage: SFT has not finished in {layout.trained}/; `make train` runs it first")
    if recipe.preference.start_from == "merged" and not layout.has_merged:
        raise StageFailed(f"preference.start_from is 'merged' but there is no merged SFT model in {layout.merged}/: "
                          f"run `make export`, then `make train` again (SFT is done and will not be retrained)", 2)
    config = render(recipe)
    digest = config_digest(recipe, config)
    if not prepare_output_dir(output, layout.preference_done(method), digest):
        print(f"== train ({method}): already finished with this config and data: {output}/ (nothing to do)")
        return TrainResult(output, trained=False)
    env = train_env(recipe, layout.tensorboard / method)
    print(f"== train ({method}): llamafactory-cli train {config}")
    log = layout.log(f"train-{method}")
    code = run_logged([bin_of("train", "llamafactory-cli"), "train", str(config)], log, env)
    if code != 0:
        raise StageFailed(f"llamafactory-cli train ({method}) exited {code}; log: {log}. "
                          f"Re-run `make train` to resume from the last checkpoint.", code)
    layout.preference_done(method).write_text(json.dumps({"config_sha256": digest}))
    figures = last_figures(output)
    print(f"== train ({method}): done. adapter {output}/  {figures['steps']} logged steps, last loss {figures['loss']}")
    return TrainResult(output, trained=True)
