"""Runs inside the quant environment (llmcompressor): the merged model -> compressed-tensors weights.

    python -m train.quantize_worker SETTINGS.json

SETTINGS.json (written by train/quantize.py): model, output, scheme (an llmcompressor preset such
as W8A8), method (gptq | rtn), smoothing (SmoothQuant's strength before GPTQ, or None), group_size
(None = the preset's), ignore, calibration (a JSONL of {"messages": [...]}) and its samples /
max_seq_length. Only stdlib and the quant environment's
packages here: this file never imports the rest of the toolkit.

gptq: GPTQ fits each layer's rounding to the calibration activations (the recipe's own training
examples, rendered with the model's chat template). rtn: every weight rounded to the nearest
step, no data (W8A8's activations are quantized per token at run time either way).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def calibration_dataset(tokenizer, path: str, samples: int, max_len: int):
    from datasets import Dataset
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if len(rows) == samples:
                break
            messages = json.loads(line)["messages"]
            text = tokenizer.apply_chat_template(messages, tokenize=False)
            ids = tokenizer(text, add_special_tokens=False, truncation=True, max_length=max_len)
            rows.append({"input_ids": ids["input_ids"], "attention_mask": ids["attention_mask"]})
    return Dataset.from_list(rows)


def scheme_with_group(preset: str, group_size: int | None):
    """The preset as llmcompressor's `config_groups`, its weights' group size replaced when one is given."""
    from compressed_tensors.quantization import preset_name_to_scheme
    scheme = preset_name_to_scheme(preset, ["Linear"])  # a copy of the preset: safe to change
    if group_size is not None and scheme.weights is not None and scheme.weights.group_size is not None:
        scheme.weights.group_size = group_size
    return {"group_0": scheme}


def main(argv: list[str]) -> int:
    settings = json.loads(Path(argv[0]).read_text())
    import torch
    from llmcompressor import oneshot
    from llmcompressor.modifiers.gptq import GPTQModifier
    from llmcompressor.modifiers.quantization import QuantizationModifier
    from llmcompressor.modifiers.transform import SmoothQuantModifier
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.time()
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(settings["model"], dtype="auto")
    tokenizer = AutoTokenizer.from_pretrained(settings["model"])
    groups = scheme_with_group(settings["scheme"], settings.get("group_size"))
    kwargs = {}
    if settings["method"] == "gptq":
        modifier = [GPTQModifier(config_groups=groups, ignore=settings["ignore"])]
        if settings.get("smoothing"):
            modifier.insert(0, SmoothQuantModifier(smoothing_strength=settings["smoothing"]))
        kwargs = {"dataset": calibration_dataset(tokenizer, settings["calibration"], settings["samples"],
                                                 settings["max_seq_length"]),
                  "num_calibration_samples": settings["samples"], "max_seq_length": settings["max_seq_length"]}
    else:
        modifier = QuantizationModifier(config_groups=groups, ignore=settings["ignore"])
    oneshot(model=model, recipe=modifier, **kwargs)
    out = Path(settings["output"])
    model.save_pretrained(out, save_compressed=True)
    tokenizer.save_pretrained(out)
    print(f"quantized with {settings['method']} {settings['scheme']} in {time.time() - started:.0f} s -> {out}",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
