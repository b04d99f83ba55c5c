"""Log-probabilities of given text under a served model, over HTTP only (vLLM's endpoints).

    POST <root>/tokenize {model, prompt | messages, add_special_tokens}  -> token ids (the server's
         own tokenizer and chat template; <root> is the base URL without /v1)
    POST <base_url>/completions {model, prompt: [ids, ...], max_tokens: 1, temperature: 0,
         prompt_logprobs: 0}  -> for every prompt position, the log-probability (natural log) of
         the token actually there: choices[i].prompt_logprobs[position][str(id)].logprob

    POST <base_url>/completions {model, prompt: ids, max_tokens: 1, temperature: 0, logprobs: 1,
         logprob_token_ids: [id, ...], return_tokens_as_token_ids: true}  -> the log-probability of
         each listed token as the NEXT token after the prompt, from one forward pass over the prompt
         (vLLM's raw logprobs: before temperature, logit bias or penalties):
         choices[0].logprobs.top_logprobs[0]["token_id:<id>"]

Used by suite perplexity (evaluation/perplexity.py) and by log-likelihood choice scoring
(evaluation/loglikelihood.py). A server without these endpoints (the RAG gateway, a plain
OpenAI-compatible server) raises Unavailable with what failed.
"""
from __future__ import annotations

from typing import Optional

import httpx


class Unavailable(Exception):
    pass


def server_root(base_url: str) -> str:
    base = base_url.rstrip("/")
    return base[:-3] if base.endswith("/v1") else base


def tokenize(client: httpx.Client, base_url: str, model: str, *, text: Optional[str] = None,
             messages: Optional[list[dict]] = None) -> list[int]:
    """Token ids of `text` (no special tokens added) or of `messages` (the chat template, with the
    generation prompt), from the server's own tokenizer."""
    root = server_root(base_url)
    body = ({"model": model, "messages": messages, "add_generation_prompt": True} if messages is not None
            else {"model": model, "prompt": text, "add_special_tokens": False})
    reply = client.post(f"{root}/tokenize", json=body)
    if reply.status_code != 200:
        raise Unavailable(f"POST {root}/tokenize: HTTP {reply.status_code} (vLLM's tokenizer endpoint is needed)")
    return reply.json()["tokens"]


def token_logprobs(client: httpx.Client, base_url: str, model: str, sequences: list[list[int]],
                   starts: list[int]) -> list[list[float]]:
    """For each token sequence, the log-probabilities of its tokens from position `start` on, each
    given every token before it; one request for all the sequences (the server batches them)."""
    url = f"{base_url.rstrip('/')}/completions"
    done = client.post(url, json={"model": model, "prompt": sequences, "max_tokens": 1, "temperature": 0,
                                  "prompt_logprobs": 0})
    if done.status_code != 200:
        raise Unavailable(f"POST {url} with prompt_logprobs: HTTP {done.status_code}: {done.text[:200]}")
    choices = sorted(done.json()["choices"], key=lambda c: c["index"])
    if len(choices) != len(sequences):
        raise Unavailable(f"POST {url}: {len(choices)} choices for {len(sequences)} prompts")
    out = []
    for ids, start, choice in zip(sequences, starts, choices):
        logprobs = choice.get("prompt_logprobs")
        if not logprobs or len(logprobs) != len(ids):
            raise Unavailable("the server returned no prompt_logprobs for every prompt token")
        found = []
        for position in range(start, len(ids)):
            entry = logprobs[position] or {}
            value = entry.get(str(ids[position])) or entry.get(ids[position])
            if value is None:
                raise Unavailable(f"no log-probability for prompt token {ids[position]} at position {position}")
            found.append(value["logprob"] if isinstance(value, dict) else float(value))
        out.append(found)
    return out


def next_token_logprobs(client: httpx.Client, base_url: str, model: str, context: list[int],
                        candidates: list[int]) -> dict[int, float]:
    """{candidate id: log p(candidate | context)} from one generation step after `context`. The
    same numbers prompt_logprobs gives for a one-token continuation, at the cost of one prefill that
    the server's prefix cache can share (prompt_logprobs computes every position of every sequence)."""
    url = f"{base_url.rstrip('/')}/completions"
    wanted = sorted(set(candidates))
    done = client.post(url, json={"model": model, "prompt": context, "max_tokens": 1, "temperature": 0,
                                  "logprobs": 1, "logprob_token_ids": wanted,
                                  "return_tokens_as_token_ids": True})
    if done.status_code != 200:
        raise Unavailable(f"POST {url} with logprob_token_ids: HTTP {done.status_code}: {done.text[:200]}")
    steps = (done.json()["choices"][0].get("logprobs") or {}).get("top_logprobs") or [None]
    found = {int(key.rsplit(":", 1)[1]): value for key, value in (steps[0] or {}).items()}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise Unavailable(f"POST {url}: no log-probability for token ids {missing} (logprob_token_ids is "
                          f"vLLM's; this server ignored it)")
    return {i: found[i] for i in wanted}
