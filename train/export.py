"""`make export`: merge the LoRA adapter with `llamafactory-cli export`, then check the result.

A full fine-tune needs no merge; its output is checked the same way. The check
(train/check_export.py) loads the model with transformers and reports a missing
chat template, EOS or pad token, or generation_config before vLLM serves it.

Run as:
    python -m train.export recipes/quickstart.yaml [key.sub=value ...]
"""
from __future__ import annotations

import sys

from envs import bin_of
from recipes.load import load_or_exit, start_run
from recipes.render import base_model_path, merged_dir, trained_dir, write_configs
from train.__main__ import DONE
from train.base_model import ensure_base_model
from train.logged import run_logged


def main(argv: list[str]) -> int:
    recipe = load_or_exit(argv)
    out = start_run(recipe, "export")
    if not (trained_dir(recipe) / DONE).exists():
        print(f"error: no finished training in {trained_dir(recipe)}/; run `make train` first",
              file=sys.stderr)
        return 1
    paths = write_configs(recipe)
    target = merged_dir(recipe)
    ensure_base_model(recipe)
    env = {"DISABLE_VERSION_CHECK": "1", "HF_HUB_OFFLINE": "1" if recipe.model.offline else "0"}
    if recipe.finetune.method != "full" and recipe.export.enabled:
        print(f"== export: llamafactory-cli export {paths['export']}")
        code = run_logged([bin_of("train", "llamafactory-cli"), "export", str(paths["export"])],
                          out / "logs" / "export.log", env)
        if code != 0:
            print(f"error: llamafactory-cli export exited {code}; log: {out}/logs/export.log", file=sys.stderr)
            return code
    elif recipe.finetune.method != "full":
        print("== export: export.enabled is false; nothing merged")
        return 0
    if not recipe.export.check:
        print(f"== export: {target}/ (checks skipped: export.check is false)")
        return 0
    code = run_logged([bin_of("train"), "-m", "train.check_export", str(target), base_model_path(recipe)],
                      out / "logs" / "export.log", env)
    if code != 0:
        print(f"error: the exported model in {target}/ has problems (listed above); vLLM would "
              f"serve it differently from training. Fix them before `make serve`.", file=sys.stderr)
        return code
    print(f"== export: merged model ready: {target}/")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
