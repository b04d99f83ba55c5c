"""Greedy reference outputs from transformers + peft: the model as LLaMA-Factory trained it.

For each chat, records the prompt token ids (from the tokenizer's chat template),
the prompt ids LLaMA-Factory's `template` builds for training (when the request
names one), the generated token ids, and for each output a server gave for that chat
(`served`) how far each of its tokens was from the reference's own choice: the served
tokens are fed to the model (teacher forcing) and each step records the top-1 logit minus
the logit of the served token (0 where the reference would have picked it too). A served
output whose every gap is within parity's tolerance is one the trained model could have
given up to numerics, however early it diverged; one beyond is a real difference.

Runs in the train environment (one process for every request: importing torch, transformers and
LLaMA-Factory costs more than generating for a few chats). Run as:
    python -m train.hf_generate REQUESTS.json RESULTS.json
REQUESTS: a list of {"base": dir, "adapter": dir|null, "template": name|null, "default_system": str|null,
                     "max_new_tokens": int, "chats": [[{role, content}, ...], ...],
                     "served": {name: [output ids per chat], ...}}
RESULTS: a list (one per request) of lists (one per chat) of
         {"prompt_ids", "train_prompt_ids", "output_ids", "gaps": {name: [logit gap per served token]}}
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
    served = request.get("served", {})
    for i, (chat, train_ids) in enumerate(zip(request["chats"], trained)):
        enc = tok.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        with torch.no_grad():
            out = model.generate(**enc, do_sample=False, max_new_tokens=request["max_new_tokens"])
        prompt = enc["input_ids"][0].tolist()
        results.append({"prompt_ids": prompt, "train_prompt_ids": train_ids,
                        "output_ids": out[0, len(prompt):].tolist(),
                        "gaps": {name: gaps(model, prompt, outputs[i]) for name, outputs in served.items()}})
    return results


def gaps(model, prompt: list[int], output: list[int]) -> list[float]:
    """Per token of `output`: the model's top-1 logit minus that token's logit, given the prompt and the
    output's earlier tokens (one forward pass)."""
    import torch

    if not output:
        return []
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt + output])).logits[0].float()
    steps = logits[len(prompt) - 1: len(prompt) - 1 + len(output)]  # the logits that chose each output token
    chosen = steps.gather(1, torch.tensor(output).unsqueeze(1)).squeeze(1)
    return (steps.max(dim=1).values - chosen).tolist()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    requests = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    Path(sys.argv[2]).write_text(json.dumps([generate(request) for request in requests]), encoding="utf-8")
