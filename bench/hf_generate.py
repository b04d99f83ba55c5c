"""The hand-written way to run a model: transformers in-process, one chat at a time (train env).

Shared by the serving baseline (bench/hf_server.py) and the evaluation baseline
(bench/hf_eval.py), so both measure the same code path.
"""
from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def load(model_dir: str, adapter: str | None = None):
    """(tokenizer, model) in float32 on CPU; a LoRA adapter is applied with peft, not merged."""
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    if adapter:
        from peft import PeftModel
        model = PeftModel.from_pretrained(model, adapter)
    return tok, model.eval()


def generate(tok, model, chat: list[dict], max_tokens: int, exact: bool) -> tuple[str, int, int]:
    """Greedy reply to one chat: (text, prompt tokens, completion tokens). `exact` suppresses
    EOS until max_tokens (like for like with vLLM's ignore_eos); otherwise it stops at EOS."""
    enc = tok.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.inference_mode():
        out = model.generate(**enc, do_sample=False, max_new_tokens=max_tokens,
                             min_new_tokens=max_tokens if exact else None, pad_token_id=tok.pad_token_id)
    prompt_len = enc["input_ids"].shape[1]
    new = out[0, prompt_len:]
    return tok.decode(new, skip_special_tokens=True), prompt_len, int(new.shape[0])
