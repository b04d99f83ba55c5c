"""`make bench`: what `make serve` keeps of vLLM's speed, and what vLLM gains over transformers.

Three engines load the same merged model (<run_dir>/merged), ONE AT A TIME, in
alternating rounds (make serve, plain vLLM, transformers, make serve, plain vLLM, ...):
  make-serve    vLLM with exactly the command line and environment `make serve` uses
                (serve.vllm_cmd.plan), started the way `make serve` starts it
  plain-vllm    the same vLLM binary with only --model and --port, as a user starts it by hand
                (on CPU with VLLM_CPU_KVCACHE_SPACE, which vLLM's CPU build needs there)
  transformers  bench/hf_server.py: model.generate for one request at a time (the
                hand-written server this toolkit replaces)
Optional (--engines): make-serve-lora (the base with the adapter mounted, as serve.mode=lora
starts it), make-serve-eager (make-serve with --enforce-eager: no torch.compile, which vLLM's
CPU build also skips whenever LoRA is enabled), transformers-peft (the base with the adapter).
Each engine is started fresh in every round, so the spread between rounds shows how
steady a launch is (one lucky round would hide an erratic one). For each concurrency
level a fixed set of chats (test split first, cycled) is sent with the official openai
client, greedy, with exactly --max-tokens output tokens per reply (vLLM: min_tokens +
ignore_eos; transformers: min_new_tokens): output tokens/s (sum of completion_tokens /
wall time) and latency p50/p95. vLLM gets one unmeasured round of 2 x concurrency
requests first (it compiles each new batch shape once), then 4 x concurrency measured;
the serial baseline gets max(concurrency, 8).

Printed: every round, then per level the mean tok/s of each engine (min-max) and the
ratios of the means make-serve/plain-vllm (target >= 0.9) and make-serve/transformers
(target >= 10 at concurrency 32). Results: <run_dir>/bench/serving.json, logs beside it.

Run as:
    python -m bench.serving recipes/quickstart.yaml [--rounds 2] [--max-tokens 64] [--concurrency 32] [key=value ...]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

from openai import AsyncOpenAI

from core.endpoints import api_key, base_url
from core.layout import RunLayout
from envs import bin_of
from envs.manage import has_nvidia_gpu
from recipes.load import load_or_exit
from recipes.render import base_model_path
from recipes.schema import Recipe
from serve import process
from serve.parity import load_chats
from serve.process import ServerSpec
from serve.vllm_cmd import plan

DISTINCT_PROMPTS = 16  # chats taken from the data splits, then cycled
HOST = "127.0.0.1"
ENGINES = ("make-serve", "plain-vllm", "transformers", "make-serve-lora", "make-serve-eager", "transformers-peft")
DEFAULT_ENGINES = "make-serve,plain-vllm,transformers"
# ratio of the means: target (make-serve and transformers at concurrency 32; LoRA at any level), or None
# for a ratio shown without one: vLLM's CPU build runs a server with LoRA enabled uncompiled, so
# make-serve-lora/make-serve-eager is what the LoRA computation itself costs, beside the compilation
TARGETS = {"make-serve/plain-vllm": 0.9, "make-serve/transformers": 10.0, "make-serve-lora/make-serve": 0.5,
           "make-serve-eager/make-serve": None, "make-serve-lora/make-serve-eager": None}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.serving", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe")
    parser.add_argument("overrides", nargs="*", help="recipe overrides, key.sub=value")
    parser.add_argument("--max-tokens", type=int, default=64, help="output tokens per request (exact)")
    parser.add_argument("--concurrency", default="32", help="comma-separated in-flight request counts")
    parser.add_argument("--rounds", type=int, default=2, help="fresh starts of each engine, alternating")
    parser.add_argument("--engines", default=DEFAULT_ENGINES, help=f"a subset of {','.join(ENGINES)}")
    args = parser.parse_intermixed_args(argv)
    try:
        args.levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    except ValueError:
        parser.error(f"--concurrency {args.concurrency!r}: give integers such as 1,32,128")
    if not args.levels or min(args.levels) < 1 or args.max_tokens < 1 or args.rounds < 1:
        parser.error("--concurrency levels, --max-tokens and --rounds must be >= 1")
    args.engine_list = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = sorted(set(args.engine_list) - set(ENGINES))
    if unknown or not args.engine_list:
        parser.error(f"--engines: unknown {unknown}; choose from {', '.join(ENGINES)}")
    return args


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


async def run_level(client: AsyncOpenAI, model: str, chats: list, concurrency: int, requests: int,
                    max_tokens: int, extra_body: dict | None) -> dict:
    """`requests` chats with at most `concurrency` in flight; tokens/s and latency (ms)."""
    gate = asyncio.Semaphore(concurrency)
    latencies_ms: list[float] = []
    tokens: list[int] = []

    async def one(i: int) -> None:
        async with gate:
            t0 = time.perf_counter()
            reply = await client.chat.completions.create(
                model=model, messages=chats[i % len(chats)], max_tokens=max_tokens, temperature=0,
                extra_body=extra_body)
            latencies_ms.append((time.perf_counter() - t0) * 1000)
            tokens.append(reply.usage.completion_tokens)

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(requests)))
    wall_s = time.perf_counter() - start
    return {"concurrency": concurrency, "requests": requests, "wall_s": round(wall_s, 3),
            "completion_tokens": sum(tokens), "tokens_per_s": round(sum(tokens) / wall_s, 1),
            "p50_ms": round(percentile(latencies_ms, 50), 1), "p95_ms": round(percentile(latencies_ms, 95), 1),
            "short_replies": sum(t != max_tokens for t in tokens)}  # should be 0: lengths are forced


def engine_launch(engine: str, recipe: Recipe, port: int) -> dict:
    """argv, environment and client settings of one engine on `port`."""
    model_dir = str(RunLayout.of(recipe).merged.resolve())
    if engine.startswith("make-serve"):
        lora = engine == "make-serve-lora"
        launch = plan(recipe, mode="lora" if lora else "merged", port=port)  # exits if the model is missing
        eager = ["--enforce-eager"] if engine == "make-serve-eager" else []  # no torch.compile
        # the LoRA server's first adapter (models[1]), the merged server's only model
        return {"argv": launch.argv + eager, "env": launch.env, "url": launch.url, "model": launch.models[int(lora)],
                "key": api_key(recipe), "vllm": True}
    if engine == "plain-vllm":
        argv = [bin_of("serve"), "-m", "vllm.entrypoints.openai.api_server", "--model", model_dir,
                "--port", str(port)]
        # The one setting a user must give vLLM's CPU build by hand: by default it claims 92% of
        # the RAM for its KV cache and refuses to start when less is free. The same size as make serve.
        env = {} if has_nvidia_gpu() else {"VLLM_CPU_KVCACHE_SPACE": str(recipe.serve.cpu_kvcache_space_gib)}
        return {"argv": argv, "env": env, "url": base_url(HOST, port), "model": model_dir,
                "key": None, "vllm": True}
    argv = [bin_of("train"), "-m", "bench.hf_server", model_dir, "--port", str(port), "--served-model-name", "bench"]
    if engine == "transformers-peft":  # the base with the adapter applied on the fly (not merged)
        argv[3:4] = [base_model_path(recipe), "--adapter", str(RunLayout.of(recipe).trained.resolve())]
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")])),
           "HF_HUB_OFFLINE": "1"}
    return {"argv": argv, "env": env, "url": base_url(HOST, port), "model": "bench",
            "key": None, "vllm": False}


async def measure(spec: dict, chats: list, levels: list[int], max_tokens: int) -> list[dict]:
    extra = {"min_tokens": max_tokens, "ignore_eos": True} if spec["vllm"] else None
    rows = []
    for level in levels:
        # a fresh client per level: a keep-alive connection the server closed while idle
        # would otherwise fail the next level's first request
        async with AsyncOpenAI(base_url=spec["url"], api_key=spec["key"] or "EMPTY", max_retries=0,
                               timeout=1800) as client:  # queued baseline requests wait long
            if spec["vllm"]:  # unmeasured: vLLM compiles each new batch shape once
                await run_level(client, spec["model"], chats, level, 2 * level, max_tokens, extra)
            else:
                await run_level(client, spec["model"], chats, 1, 1, max_tokens, extra)
            n = max(4 * level, 16) if spec["vllm"] else max(level, 8)
            rows.append(await run_level(client, spec["model"], chats, level, n, max_tokens, extra))
    return rows


def one_round(engine: str, recipe: Recipe, chats: list, args: argparse.Namespace, out: Path,
              round_no: int) -> dict:
    port = process.free_port()
    spec = engine_launch(engine, recipe, port)
    pid_file = RunLayout.of(recipe).pid_file(f"bench-{engine}")
    try:
        record = process.start(ServerSpec(f"{engine} (bench)", spec["argv"], spec["env"], HOST, port, spec["url"],
                                          [spec["model"]], pid_file, out / f"{engine}.log",
                                          recipe.serve.startup_timeout_s, spec["key"]))
        rows = asyncio.run(measure(spec, chats, args.levels, args.max_tokens))
    finally:
        process.stop(pid_file)
    result = {"engine": engine, "round": round_no, "ready_after_s": record.get("ready_after_s"), "levels": rows}
    for row in rows:
        print(f"   round {round_no}  {engine:12s}  ready {result['ready_after_s']:5.1f} s  "
              f"c={row['concurrency']:<4d} {row['tokens_per_s']:8.1f} tok/s  "
              f"p50/p95 {row['p50_ms']:6.0f}/{row['p95_ms']:<6.0f} ms", flush=True)
    return result


def summarise(rounds: list[dict], levels: list[int]) -> list[dict]:
    """Per level: mean, min and max tok/s of each engine over its rounds, and the ratios of the means."""
    summary = []
    for i, level in enumerate(levels):
        row: dict = {"concurrency": level}
        for engine in ENGINES:
            values = [r["levels"][i]["tokens_per_s"] for r in rounds if r["engine"] == engine]
            if values:
                row[engine] = {"mean": round(statistics.fmean(values), 1), "min": min(values),
                               "max": max(values), "rounds": len(values)}
        for name in TARGETS:
            top, bottom = name.split("/")
            if top in row and bottom in row:
                row[name] = round(row[top]["mean"] / max(row[bottom]["mean"], 1e-9), 2)
        summary.append(row)
    return summary


def print_summary(summary: list[dict]) -> None:
    engines = [e for e in ENGINES if e in summary[0]]
    ratios = {n: t for n, t in TARGETS.items() if n in summary[0]}
    print(f"\n   {'concurrency':>11s} | " + " | ".join(f"{e + ' tok/s (min-max)':>32s}" for e in engines)
          + " | " + " | ".join(f"{n:>28s}" for n in ratios))
    for row in summary:
        cells = [f"{row[e]['mean']:10.1f} ({row[e]['min']:.0f}-{row[e]['max']:.0f})" for e in engines]
        ratios_shown = [f"{row[n]:6.2f}x" + (f" (target {t:g})" if t else "") for n, t in ratios.items()]
        print(f"   {row['concurrency']:11d} | " + " | ".join(f"{c:>32s}" for c in cells)
              + " | " + " | ".join(f"{r:>28s}" for r in ratios_shown))


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    recipe = load_or_exit([args.recipe, *args.overrides])
    out = RunLayout.of(recipe).bench
    out.mkdir(parents=True, exist_ok=True)
    plan(recipe, mode="merged", port=recipe.serve.port)  # exits early if there is no merged model
    chats = load_chats(recipe, DISTINCT_PROMPTS)
    print(f"== bench: '{recipe.name}', model {RunLayout.of(recipe).merged.resolve()}/, {len(chats)} distinct chats, "
          f"{args.max_tokens} output tokens per request, concurrency {args.levels}, "
          f"{args.rounds} rounds of {', '.join(args.engine_list)}, one engine at a time")
    rounds = [one_round(engine, recipe, chats, args, out, n + 1)
              for n in range(args.rounds) for engine in args.engine_list]
    summary = summarise(rounds, args.levels)
    print_summary(summary)
    short = sum(row["short_replies"] for r in rounds for row in r["levels"])
    if short:
        print(f"   warning: {short} replies had fewer than {args.max_tokens} tokens; tok/s still counts real tokens")
    result = {"recipe": recipe.name, "model": str(RunLayout.of(recipe).merged.resolve()), "max_tokens": args.max_tokens,
              "distinct_prompts": len(chats), "device": "gpu" if has_nvidia_gpu() else "cpu",
              "cpu_count": os.cpu_count(), "rounds": rounds, "summary": summary}
    (out / "serving.json").write_text(json.dumps(result, indent=2))
    print(f"\n   written {out}/serving.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
