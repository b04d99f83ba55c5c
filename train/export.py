"""`make export`: merge the LoRA adapter with `llamafactory-cli export`, then check the result.

A full fine-tune needs no merge; its output is checked the same way. The check
(train/check_export.py) loads the model with transformers and reports a missing
chat template, EOS or pad token, or generation_config before vLLM serves it.

Run as:
    python -m train.export recipes/quickstart.yaml [key.sub=value ...]
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

from core.stage import StageFailed, begin, cli
from envs import bin_of
from recipes.render import base_model_path, write_configs
from recipes.schema import Recipe
from train.base_model import ensure_base_model
from train.logged import run_logged


def run(recipe: Recipe) -> Optional[Path]:
    """The checked model folder vLLM serves in merged mode; None when export.enabled is false."""
    layout = begin(recipe, "export")
    if not layout.train_done.exists():
        raise StageFailed(f"no finished training in {layout.trained}/; run `make train` first")
    paths = write_configs(recipe)
    target, log = layout.merged, layout.log("export")
    ensure_base_model(recipe)
    env = {"DISABLE_VERSION_CHECK": "1", "HF_HUB_OFFLINE": "1" if recipe.model.offline else "0"}
    if recipe.finetune.method != "full" and recipe.export.enabled:
        print(f"== export: llamafactory-cli export {paths['export']}")
        code = run_logged([bin_of("train", "llamafactory-cli"), "export", str(paths["export"])], log, env)
        if code != 0:
            raise StageFailed(f"llamafactory-cli export exited {code}; log: {log}", code)
    elif recipe.finetune.method != "full":
        print("== export: export.enabled is false; nothing merged")
        return None
    if not recipe.export.check:
        print(f"== export: {target}/ (checks skipped: export.check is false)")
        return target
    code = run_logged([bin_of("train"), "-m", "train.check_export", str(target), base_model_path(recipe)], log, env)
    if code != 0:
        raise StageFailed(f"the exported model in {target}/ has problems (listed above); vLLM would "
                          f"serve it differently from training. Fix them before `make serve`.", code)
    print(f"== export: merged model ready: {target}/")
    return target


def main(argv: list[str]) -> int:
    return cli(argv, run)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
