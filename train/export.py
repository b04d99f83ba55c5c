"""`make export`: merge the LoRA adapter with `llamafactory-cli export`, then check the result.

A full fine-tune needs no merge; its output is checked the same way. The check
(train/check_export.py) loads the model with transformers and reports a missing
chat template, EOS or pad token, or generation_config before vLLM serves it.
A finished export is stamped (medkit_export_done.json in the merged folder) with a
content digest of the model: the preference stage with `start_from: merged` keys
its own done stamp on it, so a re-export that changes the model trains it again.

Run as:
    python -m train.export recipes/quickstart.yaml [key.sub=value ...]
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Callable, Optional

from core.layout import EXPORT_DONE, TRAIN_DONE, RunLayout
from core.layout import base_model_path
from core.logged import run_logged
from core.recipe.schema import Recipe
from core.stage import StageFailed, begin, cli, command_status
from envs import bin_of
from train.base_model import ensure_base_model
from train.render import write_configs


def model_digest(folder: Path) -> str:
    """sha256 over the names and contents of the model folder's files (config, weights, tokenizer,
    generation_config; not the stamps nor subfolders such as checkpoints)."""
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.iterdir() if p.is_file() and p.name not in (EXPORT_DONE, TRAIN_DONE)):
        digest.update(file.name.encode())
        with file.open("rb") as data:
            digest.update(hashlib.file_digest(data, "sha256").digest())
    return digest.hexdigest()


def merged_digest(layout: RunLayout) -> str:
    """What identifies the merged model: the digest its export stamped, else (a model merged before
    exports were stamped, or a full fine-tune never exported) the digest computed now."""
    if layout.export_done.exists():
        return json.loads(layout.export_done.read_text())["model_sha256"]
    return model_digest(layout.merged)


def stamp(layout: RunLayout) -> None:
    layout.export_done.write_text(json.dumps({"model_sha256": model_digest(layout.merged)}))


def run(recipe: Recipe, on_merged: Optional[Callable[[], None]] = None) -> Optional[Path]:
    """The checked model folder vLLM serves in merged mode; None when export.enabled is false.
    on_merged() is called once the merged files are written, before their checks (the quickstart
    starts the merged server then; a failed check still fails the export)."""
    layout = begin(recipe, "export")
    if not layout.train_done.exists():
        raise StageFailed(f"no finished training in {layout.trained}/; run `make train` first")
    paths = write_configs(recipe)
    target, log = layout.merged, layout.log("export")
    ensure_base_model(recipe)
    env = {"DISABLE_VERSION_CHECK": "1", "HF_HUB_OFFLINE": "1" if recipe.model.offline else "0"}
    layout.export_done.unlink(missing_ok=True)  # an export cut short leaves no stamp
    if recipe.finetune.method != "full" and recipe.export.enabled:
        print(f"== export: llamafactory-cli export {paths['export']}")
        code = run_logged([bin_of("train", "llamafactory-cli"), "export", str(paths["export"])], log, env)
        if code != 0:
            raise StageFailed(f"llamafactory-cli export exited {code}; log: {log}", code)
    elif recipe.finetune.method != "full":
        print("== export: export.enabled is false; nothing merged")
        return None
    if on_merged:
        on_merged()
    if not recipe.export.check:
        stamp(layout)
        print(f"== export: {target}/ (checks skipped: export.check is false)")
        return target
    code = run_logged([bin_of("train"), "-m", "train.check_export", str(target), base_model_path(recipe)], log, env)
    if code != 0:
        raise StageFailed(f"the exported model in {target}/ has problems (listed above); vLLM would "
                          f"serve it differently from training. Fix them before `make serve`.", code)
    stamp(layout)
    print(f"== export: merged model ready: {target}/")
    return target


def main(argv: list[str]) -> int:
    return cli(argv, run)


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
