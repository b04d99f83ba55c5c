"""`make quickstart`: the whole pipeline on the embedded default, offline, on CPU.

data -> tiny model -> LoRA training -> merge -> index -> vLLM serving base + LoRA
and the merged model, the RAG gateway in front -> chat requests with the official
openai client (streamed and not, with and without retrieval) -> parity -> stop.
Each step is the same code `make <step>` runs.

The same sequence runs any recipe that has a rag section, e.g. the real-model lane:
    make quickstart RECIPE=recipes/smollm2-135m_cpu_lora.yaml

Run as:
    python -m scripts.quickstart [RECIPE.yaml] [key.sub=value ...]   # overrides apply to every step
"""
from __future__ import annotations

import json
import os
import sys
import time

from openai import OpenAI

import converters.build
import evaluation.__main__
import evaluation.parity
import serve.__main__ as serve_cli
import serve.rag.index
import train.__main__
import train.export
from recipes.load import load_or_exit, run_dir
from serve.vllm_cmd import api_key

RECIPE = "recipes/quickstart.yaml"
QUESTION = "孩子发烧38度5，精神还好，需要马上吃退烧药吗？"  # the tiny model's samples are Chinese


def first_question(recipe) -> str:
    """The first held-out question of the run's data (in the recipe's own language)."""
    for split in ("test", "validation"):
        path = run_dir(recipe) / "data" / f"{split}.jsonl"
        for line in path.read_text(encoding="utf-8").splitlines() if path.exists() else []:
            row = json.loads(line)
            if row.get("instruction") and "[1]" not in row["instruction"]:
                return row["instruction"]
    return QUESTION


def chat_check(url: str, model: str, key: str | None, question: str) -> str:
    """One non-streamed and one streamed request; returns a one-line summary."""
    client = OpenAI(base_url=url, api_key=key or "not-needed", timeout=120)
    messages = [{"role": "user", "content": question}]
    reply = client.chat.completions.create(model=model, messages=messages, max_tokens=48, temperature=0)
    text = reply.choices[0].message.content or ""
    started, first, pieces = time.time(), None, []
    stream = client.chat.completions.create(model=model, messages=messages, max_tokens=48,
                                            temperature=0, stream=True)
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            first = first or time.time()
            pieces.append(chunk.choices[0].delta.content)
    if "".join(pieces) != text:
        raise SystemExit(f"error: {model}: streamed and non-streamed greedy answers differ")
    ttft = f"{(first - started) * 1000:.0f} ms" if first else "n/a"
    shown = text.replace("\n", "⏎")[:40]
    return (f"{model:12s} {reply.usage.completion_tokens:3d} tokens, {len(pieces):3d} stream chunks, "
            f"first token {ttft}: {shown}")


def rag_check(url: str, model: str, key: str | None, question: str) -> str:
    """A streamed answer through the gateway: the first chunk carries the sources."""
    client = OpenAI(base_url=url, api_key=key or "not-needed", timeout=120)
    stream = client.chat.completions.create(model=model, messages=[{"role": "user", "content": question}],
                                            max_tokens=48, temperature=0, stream=True)
    sources, pieces = None, []
    for chunk in stream:
        extra = chunk.model_extra or {}
        if sources is None and extra.get("sources") is not None:
            sources = extra["sources"]
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
    if not sources:
        raise SystemExit(f"error: {model}: the gateway returned no sources")
    titles = ", ".join(f"[{s['index']}] {s['title'][:12]} ({s['score']:.2f})" for s in sources[:3])
    return f"{model:16s} {len(sources)} sources: {titles}; answer: {''.join(pieces).replace(chr(10), '⏎')[:30]}"


def step(name: str, func, argv: list[str], timings: dict) -> None:
    started = time.time()
    code = func(argv)
    timings[name] = time.time() - started
    if code:
        raise SystemExit(f"quickstart: step '{name}' failed (exit {code}); see the messages above")


def main(args: list[str]) -> int:
    argv = args if args and args[0].endswith((".yaml", ".yml")) else [RECIPE, *args]
    recipe = load_or_exit(argv)
    merged_argv = argv + ["serve.mode=merged", f"serve.port={recipe.serve.port + 1}"]
    timings: dict[str, float] = {}
    summary: list[str] = []
    began = time.time()
    try:
        step("data", converters.build.main, argv, timings)
        step("train", train.__main__.main, argv, timings)
        step("export", train.export.main, argv, timings)
        step("index", serve.rag.index.main, argv, timings)
        step("serve lora", serve_cli.start, argv, timings)
        step("serve merged", serve_cli.start, merged_argv, timings)
        key = api_key(recipe)
        question = first_question(recipe)
        lora_url = f"http://127.0.0.1:{recipe.serve.port}/v1"
        merged_url = f"http://127.0.0.1:{recipe.serve.port + 1}/v1"
        print("== chat: official openai client, greedy, streamed and not")
        for url, model in ((lora_url, recipe.serve.base_name), (lora_url, recipe.serve.adapters[0].name),
                           (merged_url, recipe.serve.merged_name or f"{recipe.name}-merged")):
            summary.append(chat_check(url, model, key, question))
            print("   " + summary[-1])
        gateway_url = f"http://127.0.0.1:{recipe.rag.gateway.port}/v1"
        print("== RAG: through the gateway, streamed, sources first")
        summary.append(rag_check(gateway_url, recipe.serve.adapters[0].name + recipe.rag.gateway.model_suffix, key,
                                 question))
        print("   " + summary[-1])
        step("eval", evaluation.__main__.main, argv + ["--no-progress"], timings)
        step("parity", evaluation.parity.main, argv, timings)
    finally:
        serve_cli.stop(argv)
    out = run_dir(recipe)
    print(f"\n== quickstart done in {time.time() - began:.0f} s "
          f"({', '.join(f'{k} {v:.0f} s' for k, v in timings.items())})")
    print(f"   run directory      {out}/")
    print(f"   datasets           {out}/data/  (dataset_info.json for LLaMA-Factory, eval/, corpus.jsonl)")
    print(f"   data report        {out}/data/report.md  (+ report_*.png)")
    print(f"   adapter + plots    {out}/adapter/  (training_loss.png; TensorBoard in {out}/logs/tensorboard)")
    print(f"   merged model       {out}/merged/")
    print(f"   parity table       {out}/parity/parity.json")
    print(f"   index              {out}/index/  (Chroma + BM25)")
    print(f"   evaluation         {out}/eval/report.md  (+ results.json, PNG plots)")
    print(f"   logs               {out}/logs/")
    print("   serve it again:    make serve            (base + med-lora on "
          f"127.0.0.1:{recipe.serve.port}, RAG gateway on 127.0.0.1:{recipe.rag.gateway.port})")
    print("                      make serve ARGS=serve.mode=merged")
    print("   open the demo:     make serve && make demo   -> http://127.0.0.1:7860")
    print("                      from a laptop: ssh -N -L 7860:127.0.0.1:7860 user@this-host")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main(sys.argv[1:]))
