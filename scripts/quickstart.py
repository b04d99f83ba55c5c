"""`make quickstart`: the whole pipeline on the embedded default, offline, on CPU.

data -> tiny model -> LoRA training (the index is built meanwhile) -> vLLM serving base + LoRA
(started while the adapter is merged) and the merged model, the RAG gateway in front -> chat requests with
the official openai client (streamed and not, with and without retrieval) -> eval -> quantization of the
merged model (with a quantize section) -> parity (the quantized model too) -> stop.
The recipe is loaded once; each step calls the same stage function `make <step>` runs.

The same sequence runs any recipe that has a rag section, e.g. the real-model lane:
    make quickstart RECIPE=recipes/smollm2-135m_cpu_lora.yaml

Run as:
    python -m scripts.quickstart [RECIPE.yaml] [key.sub=value ...] [--keep-serving]
Overrides apply to every step. --keep-serving leaves vLLM (both modes) and the gateway
running at the end (`make stop` with the same RECIPE and ARGS ends them); the test suite
builds its shared pipeline this way.
"""
from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from openai import OpenAI

import converters.build
import evaluation.evaluate
import serve.parity
import serve.rag.index
import train.export
import train.quantize
import train.training
from core.endpoints import api_key, gateway_url, rag_model, vllm_url
from core.layout import RunLayout
from core.recipe.schema import Recipe
from core.stage import StageFailed, command_status, print_recipe, recipe_from_argv
from envs.manage import has_nvidia_gpu
from serve import control

RECIPE = "recipes/quickstart.yaml"
QUESTION = "孩子发烧38度5，精神还好，需要马上吃退烧药吗？"  # the tiny model's samples are Chinese


def first_question(recipe) -> str:
    """The first held-out question of the run's data (in the recipe's own language)."""
    for split in ("test", "validation"):
        path = RunLayout.of(recipe).split(split)
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
        raise StageFailed(f"{model}: streamed and non-streamed greedy answers differ")
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
        raise StageFailed(f"{model}: the gateway returned no sources")
    titles = ", ".join(f"[{s['index']}] {s['title'][:12]} ({s['score']:.2f})" for s in sources[:3])
    return f"{model:16s} {len(sources)} sources: {titles}; answer: {''.join(pieces).replace(chr(10), '⏎')[:30]}"


def step(name: str, func, timings: dict, *args, **kwargs):
    started = time.time()
    try:
        return func(*args, **kwargs)
    except StageFailed as exc:
        raise StageFailed(f"{exc}\nquickstart: step '{name}' failed (exit {exc.code}); see the messages above",
                          exc.code) from None
    finally:
        timings[name] = time.time() - started


def merged_twin(recipe: Recipe) -> Recipe:
    """The same recipe serving the merged model on the next port (beside the LoRA-mounted server),
    without a gateway of its own: the one gateway stands in front of the LoRA-mounted server."""
    twin = recipe.model_copy(deep=True)
    twin.serve.mode, twin.serve.port, twin.rag = "merged", recipe.serve.port + 1, None
    return twin


def split_cores(recipe: Recipe, twin: Recipe) -> None:
    """On a CPU-only machine, each of the two servers computes on its own half of the cores
    (serve.cpu_threads_bind), unless the recipe sets them: vLLM's automatic binding puts every server's
    worker on the same cores (all but one, kept for its scheduler), so side by side they would share
    one core on a 2-core machine while the other waits."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2 or recipe.serve.cpu_threads_bind or has_nvidia_gpu():
        return
    half = len(cores) // 2
    recipe.serve.cpu_threads_bind = ",".join(map(str, cores[:half]))
    twin.serve.cpu_threads_bind = ",".join(map(str, cores[half:]))


def train_and_index(recipe: Recipe, timings: dict) -> None:
    """The index needs the corpus, not the model, so it is built while LLaMA-Factory trains: a small
    model's training keeps about one of two cores busy (their output lines interleave)."""
    began = time.time()
    with ThreadPoolExecutor(max_workers=1) as pool:
        index = pool.submit(step, "index", serve.rag.index.run, timings, recipe)
        step("train", train.training.run, timings, recipe)
        index.result()  # re-raises a failed index build
    timings["train + index"] = time.time() - began


def export_and_serve(recipe: Recipe, merged: Recipe, timings: dict) -> None:
    """The LoRA-mounted vLLM (+ the gateway) starts as soon as the adapter and the index exist, side by
    side with the merge; the merged vLLM once the merged files are written, while `make export` checks
    them (a failed check still stops the quickstart, and its servers). Most of a start-up is one
    process's imports, so these overlap on two cores."""
    began = time.time()
    with ThreadPoolExecutor(max_workers=2) as pool:  # leaving the block waits for both starts
        starts = [pool.submit(control.start, recipe)]
        step("export", train.export.run, timings, recipe,
             on_merged=lambda: starts.append(pool.submit(control.start, merged)))
        for future in starts:
            future.result()  # re-raises a failed start (the other server is stopped at the end)
    timings["export + serve"] = time.time() - began


def chat_checks(recipe: Recipe, merged: Recipe) -> list[str]:
    key, question = api_key(recipe), first_question(recipe)
    summary = []
    print("== chat: official openai client, greedy, streamed and not")
    for url, model in ((vllm_url(recipe), recipe.serve.base_name), (vllm_url(recipe), recipe.serve.adapters[0].name),
                       (vllm_url(merged), merged.serve.merged_name or f"{recipe.name}-merged")):
        summary.append(chat_check(url, model, key, question))
        print("   " + summary[-1])
    print("== RAG: through the gateway, streamed, sources first")
    summary.append(rag_check(gateway_url(recipe), rag_model(recipe.serve.adapters[0].name,
                                                            recipe.rag.gateway.model_suffix), key, question))
    print("   " + summary[-1])
    return summary


def run(recipe: Recipe, keep_serving: bool = False) -> dict[str, float]:
    """Every stage in order on one recipe, the servers stopped at the end (unless keep_serving, or a
    step failed); seconds per step."""
    if recipe.rag is None or not recipe.serve.adapters:
        raise StageFailed(f"the quickstart needs a recipe with a `rag` section and a LoRA adapter in "
                          f"serve.adapters; '{recipe.name}' lacks {'rag' if recipe.rag is None else 'serve.adapters'}")
    merged = merged_twin(recipe)
    split_cores(recipe, merged)
    timings: dict[str, float] = {}
    finished = False
    try:
        step("data", converters.build.run, timings, recipe)
        train_and_index(recipe, timings)
        export_and_serve(recipe, merged, timings)
        chat_checks(recipe, merged)
        step("eval", evaluation.evaluate.run, timings, recipe, progress=False)
        if recipe.quantize is not None:
            step("quantize", train.quantize.run, timings, recipe)
        step("parity", serve.parity.run, timings, recipe)
        finished = True
    finally:
        if not (keep_serving and finished):
            control.stop(recipe)
    return timings


def main(args: list[str]) -> int:
    keep_serving = "--keep-serving" in args
    args = [a for a in args if a != "--keep-serving"]
    argv = args if args and args[0].endswith((".yaml", ".yml")) else [RECIPE, *args]
    recipe = recipe_from_argv(argv)
    print_recipe(recipe)
    began = time.time()
    timings = run(recipe, keep_serving)
    out = RunLayout.of(recipe)
    print(f"\n== quickstart done in {time.time() - began:.0f} s "
          f"({', '.join(f'{k} {v:.0f} s' for k, v in timings.items())})")
    print(f"   run directory      {out.root}/")
    print(f"   datasets           {out.data}/  (dataset_info.json for LLaMA-Factory, eval/, corpus.jsonl)")
    print(f"   data report        {out.data}/report.md  (+ report_*.png)")
    print(f"   adapter + plots    {out.trained}/  (training_loss.png; TensorBoard in {out.tensorboard})")
    print(f"   merged model       {out.merged}/")
    if recipe.quantize is not None:
        print(f"   quantized model    {out.quantized}/  ({recipe.quantize.scheme}; make serve "
              f"ARGS=\"serve.mode=quantized serve.port=...\")")
    print(f"   parity table       {out.parity}/parity.json")
    print(f"   index              {out.index}/  (Chroma + BM25)")
    print(f"   evaluation         {out.eval}/report.md  (+ results.json, PNG plots)")
    print(f"   logs               {out.logs}/")
    print(f"   serve it again:    make serve            (base + {recipe.serve.adapters[0].name} on "
          f"{vllm_url(recipe)}, RAG gateway on {gateway_url(recipe)})")
    print("                      make serve ARGS=serve.mode=merged")
    print("   open the demo:     make serve && make demo   -> http://127.0.0.1:7860")
    print("                      from a laptop: ssh -N -L 7860:127.0.0.1:7860 user@this-host")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(command_status(main, sys.argv[1:]))
