"""Greedy reference outputs from transformers + peft: the model as LLaMA-Factory trained it.

For each chat, records the prompt token ids (from the tokenizer's chat template),
the prompt ids LLaMA-Factory's `template` builds for training (when the request
names one), the generated token ids, and per step the gap between the top-1 and
top-2 logits, which tells a numerics tie from a real difference in `make parity`.

Runs in the train environment (one process for every request: importing torch, transformers and
LLaMA-Factory costs more than generating for a few chats). Run as:
    python -m train.hf_generate REQUESTS.json RESULTS.json
REQUESTS: a list of {"base": dir, "adapter": dir|null, "template": name|null, "default_system": str|null,
                     "max_new_tokens": int, "chats": [[{role, content}, ...], ...]}
RESULTS: a list (one per request) of lists (one per chat) of
         {"prompt_ids", "train_prompt_ids", "output_ids", "margins"}
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def training_prompt_ids(base: str, template_name: str, default_system: str | None,
                        chats: list[list[dict]]) -> list[list[int]]:
    """The prompt ids LLaMA-Factory trains on for each chat (system + user turns, up to the answer)."""
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base)  # its own copy: LLaMA-Factory may add special tokens
    template = get_template_and_fix_tokenizer(tok, DataArguments(template=template_name,
                                                                 default_system=default_system))
    out = []
    for chat in chats:
        system = chat[0]["content"] if chat and chat[0]["role"] == "system" else None
        turns = [m for m in chat if m["role"] != "system"] + [{"role": "assistant", "content": ""}]
        prompt_ids, _ = template.encode_oneturn(tok, turns, system)
        out.append(prompt_ids)
    return out


def generate(request: dict) -> list[dict]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(request["base"])
    model = AutoModelForCausalLM.from_pretrained(request["base"], dtype=torch.float32)
    if request.get("adapter"):
        from peft import PeftModel
        model = PeftModel.from_pretrained(model, request["adapter"])
    model.eval()
    trained = training_prompt_ids(request["base"], request["template"], request.get("default_system"),
                                  request["chats"]) \
        if request.get("template") else [None] * len(request["chats"])
    results = []
    for chat, train_ids in zip(request["chats"], trained):
        enc = tok.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        with torch.no_grad():
            out = model.generate(**enc, do_sample=False, max_new_tokens=request["max_new_tokens"],
                                 output_logits=True, return_dict_in_generate=True)
        prompt_len = enc["input_ids"].shape[1]
        margins = []
        for step_logits in out.logits:
            top = torch.topk(step_logits[0].float(), 2).values
            margins.append(float(top[0] - top[1]))
        results.append({"prompt_ids": enc["input_ids"][0].tolist(), "train_prompt_ids": train_ids,
                        "output_ids": out.sequences[0, prompt_len:].tolist(),
                        "margins": margins})
    return results


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    requests = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    Path(sys.argv[2]).write_text(json.dumps([generate(request) for request in requests]), encoding="utf-8")
