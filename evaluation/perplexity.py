"""Perplexity of the reference answers under each target, over HTTP (suite perplexity; vLLM only).

For every open item with a reference, per target (the item's own system prompt, as in `full`):
  1. POST <server>/tokenize {model, messages, add_generation_prompt: true}  -> prompt token ids P
     (the server's own chat template, so what the model saw in training and serving)
  2. POST <server>/tokenize {model, prompt: reference, add_special_tokens: false} -> ids R
  3. POST <base_url>/completions {model, prompt: P + R, max_tokens: 1, temperature: 0,
     prompt_logprobs: 0}: vLLM returns, for every prompt position, the log-probability of
     the token actually there (choices[0].prompt_logprobs[i][str(id)].logprob, natural log)
  NLL(item) = -Σ log p(R_j | P, R_<j), over the reference tokens only (no end-of-turn token).
Figures per target: perplexity = exp(Σ NLL / Σ |R|) over the items (token-weighted, so long
references weigh more), the median of the per-item exp(NLL / |R|), n items and tokens. Only
items EVERY scored target could compute are used, so the figures compare the same text.
The LoRA target is asked with its own model name (its adapter applies to the prompt too).
vLLM's tokenizer endpoints live at the server root (<base_url> without /v1). Targets behind the
RAG gateway (which has no /tokenize, and whose prompt holds retrieved text) are skipped, as
is any server that answers /tokenize with an error: the report says so. Not cached (one
prefill per item: cheap next to generation).

Run as (one reference under one model):
    python -m evaluation.perplexity http://127.0.0.1:8000/v1 base "高血压患者饮食要注意什么？" "应低盐饮食。"
"""
from __future__ import annotations

import math
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import httpx

from core.stage import command_status
from evaluation.prompt_logprobs import token_logprobs, tokenize
from evaluation.suites import OPEN_KINDS, messages


def reference_nll(client: httpx.Client, base_url: str, model: str, item: dict) -> tuple[float, int]:
    """(negative log-likelihood in nats, reference tokens) of item["reference"] after its prompt."""
    prompt = tokenize(client, base_url, model, messages=messages(item, item.get("system")))
    answer = tokenize(client, base_url, model, text=item["reference"])
    [logprobs] = token_logprobs(client, base_url, model, [prompt + answer], [len(prompt)])
    return -sum(logprobs), len(answer)


def target_nll(base_url: str, model: str, items: list[dict], api_key: Optional[str], timeout_s: float,
               concurrency: int) -> dict[str, tuple[float, int]]:
    """{item id: (nll, tokens)} for the open items with a reference; Unavailable when the server can't."""
    todo = [i for i in items if i["kind"] in OPEN_KINDS and (i.get("reference") or "").strip()]
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with httpx.Client(timeout=timeout_s, headers=headers) as client:
        if todo:  # the first one alone: a server without the endpoints fails fast, once
            first = reference_nll(client, base_url, model, todo[0])
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            rest = list(pool.map(lambda i: reference_nll(client, base_url, model, i), todo[1:]))
    return {i["id"]: v for i, v in zip(todo, [first, *rest] if todo else [])}


def summarise(per_target: dict[str, dict[str, tuple[float, int]]]) -> dict[str, dict]:
    """Figures per target on the items every target computed."""
    if not per_target:
        return {}
    shared = set.intersection(*(set(v) for v in per_target.values()))
    out = {}
    for target, values in per_target.items():
        kept = [values[i] for i in sorted(shared)]
        tokens = sum(t for _, t in kept)
        out[target] = {"n": len(kept), "tokens": tokens,
                       "perplexity": math.exp(sum(n for n, _ in kept) / tokens) if tokens else None,
                       "median_item_perplexity": statistics.median(math.exp(n / t) for n, t in kept if t)
                       if tokens else None}
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__.split("Run as")[1], file=sys.stderr)
        return 2
    url, model, question, reference = argv
    item = {"id": "q", "kind": "open", "prompt": question, "reference": reference}
    with httpx.Client(timeout=60) as client:
        nll, tokens = reference_nll(client, url, model, item)
    print(f"{tokens} reference tokens, NLL {nll:.2f} nats, perplexity {math.exp(nll / tokens):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
