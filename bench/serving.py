"""`make bench`: serving throughput of vLLM against a hand-written transformers server.

Both servers load the same merged model (<run_dir>/merged). vLLM batches
requests continuously; the baseline (bench/hf_server.py) runs model.generate
for one request at a time. For each concurrency level, a fixed set of chats
(test split first, cycled) is sent with the official openai client, greedy,
with exactly --max-tokens output tokens per reply on both servers (vLLM:
min_tokens + ignore_eos; baseline: min_new_tokens), and the table shows output
tokens/s (sum of completion_tokens / wall time) and per-request latency p50/p95.
vLLM gets 4 x concurrency requests per level after an unmeasured round of 2 x concurrency
(it compiles each new batch shape once); the serial baseline gets max(concurrency, 8).

Both servers are started on free ports for the run and stopped at the end,
whatever happens. Results: <run_dir>/bench/serving.json, logs beside it.

Run as:
    python -m bench.serving recipes/quickstart.yaml [--max-tokens 32] [--concurrency 1,32,128] [key=value ...]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from openai import AsyncOpenAI

from core.endpoints import api_key, base_url
from core.layout import RunLayout
from envs import bin_of
from envs.manage import has_nvidia_gpu
from recipes.load import load_or_exit
from serve import process
from serve.parity import load_chats
from serve.process import ServerSpec
from serve.servers import vllm_server

DISTINCT_PROMPTS = 16  # chats taken from the data splits, then cycled
HF_HOST = "127.0.0.1"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.serving", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe")
    parser.add_argument("overrides", nargs="*", help="recipe overrides, key.sub=value")
    parser.add_argument("--max-tokens", type=int, default=32, help="output tokens per request (exact)")
    parser.add_argument("--concurrency", default="1,32,128", help="comma-separated in-flight request counts")
    args = parser.parse_intermixed_args(argv)
    try:
        args.levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    except ValueError:
        parser.error(f"--concurrency {args.concurrency!r}: give integers such as 1,32,128")
    if not args.levels or min(args.levels) < 1 or args.max_tokens < 1:
        parser.error("--concurrency levels and --max-tokens must be >= 1")
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


async def bench(servers: dict[str, dict], chats: list, levels: list[int], max_tokens: int) -> list[dict]:
    def client(s: dict) -> AsyncOpenAI:
        # A fresh client (and connection pool) per level: a pooled keep-alive connection
        # that the server closed while idle would otherwise fail the next level's request.
        return AsyncOpenAI(base_url=s["url"], api_key=s["key"] or "EMPTY", max_retries=0,
                           timeout=1800)  # s: queued baseline requests wait long

    rows = []
    for name, s in servers.items():  # warm-up, not measured
        async with client(s) as c:
            await run_level(c, s["model"], chats, 1, 1, max_tokens, s["extra_body"])
    for level in levels:
        row = {"concurrency": level}
        for name, s in servers.items():
            n = max(4 * level, 16) if name == "vllm" else max(level, 8)
            print(f"   concurrency {level:4d}: {name:4s} {n} requests ...", flush=True)
            async with client(s) as c:
                if name == "vllm":  # one unmeasured round: vLLM compiles each new batch shape once
                    await run_level(c, s["model"], chats, level, 2 * level, max_tokens, s["extra_body"])
                row[name] = await run_level(c, s["model"], chats, level, n, max_tokens, s["extra_body"])
        row["ratio"] = round(row["vllm"]["tokens_per_s"] / max(row["hf"]["tokens_per_s"], 1e-9), 2)
        rows.append(row)
    return rows


def print_table(rows: list[dict]) -> None:
    head = f"   {'concurrency':>11s} | {'vLLM tok/s':>10s} | {'HF tok/s':>9s} | {'ratio':>6s} | " \
           f"{'vLLM p50/p95 ms':>16s} | {'HF p50/p95 ms':>16s}"
    print("\n" + head + "\n   " + "-" * (len(head) - 3))
    for r in rows:
        v, h = r["vllm"], r["hf"]
        print(f"   {r['concurrency']:11d} | {v['tokens_per_s']:10.1f} | {h['tokens_per_s']:9.1f} | "
              f"{r['ratio']:5.1f}x | {v['p50_ms']:7.0f}/{v['p95_ms']:<8.0f} | {h['p50_ms']:7.0f}/{h['p95_ms']:<8.0f}")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    recipe = load_or_exit([args.recipe, *args.overrides])
    layout = RunLayout.of(recipe)
    out = layout.bench
    out.mkdir(parents=True, exist_ok=True)
    model_dir = layout.merged.resolve()
    chats = load_chats(recipe, DISTINCT_PROMPTS)
    vllm_port = hf_port = process.free_port()
    while hf_port == vllm_port:  # two probes may hand back the same port
        hf_port = process.free_port()
    spec = replace(vllm_server(recipe, mode="merged", port=vllm_port, server="bench-vllm",  # exits if no merged model
                               name="vLLM bench (merged)"), log=out / "vllm.log")
    name = spec.models[0]
    pid_files = {"vllm": spec.pid_file, "hf": layout.pid_file("bench-hf")}
    print(f"== bench: '{recipe.name}', model {model_dir}/, {len(chats)} distinct chats, "
          f"{args.max_tokens} output tokens per request, concurrency {args.levels}")
    servers: dict[str, dict] = {}
    try:
        print(f"   starting vLLM (merged) on port {vllm_port}, log {out}/vllm.log")
        rec = process.start(spec)
        servers["vllm"] = {"url": rec["url"], "key": api_key(recipe), "model": name, "ready_s": rec.get("ready_after_s"),
                           "extra_body": {"min_tokens": args.max_tokens, "ignore_eos": True}}
        hf_argv = [bin_of("train"), "-m", "bench.hf_server", str(model_dir), "--port", str(hf_port),
                   "--served-model-name", name]
        hf_env = {"PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")])),
                  "HF_HUB_OFFLINE": "1"}
        hf_url = base_url(HF_HOST, hf_port)
        print(f"   starting the transformers baseline on port {hf_port}, log {out}/hf.log")
        rec = process.start(ServerSpec("HF baseline (bench)", hf_argv, hf_env, HF_HOST, hf_port, hf_url, [name],
                                       pid_files["hf"], out / "hf.log", recipe.serve.startup_timeout_s))
        servers["hf"] = {"url": rec["url"], "key": None, "model": name, "ready_s": rec.get("ready_after_s"),
                         "extra_body": None}
        rows = asyncio.run(bench(servers, chats, args.levels, args.max_tokens))
    finally:
        for file in pid_files.values():
            stopped = process.stop(file)
            if stopped:
                print(f"   stopped {stopped}")
    print_table(rows)
    short = sum(r[s]["short_replies"] for r in rows for s in ("vllm", "hf"))
    if short:
        print(f"   warning: {short} replies had fewer than {args.max_tokens} tokens; tok/s still counts real tokens")
    result = {"recipe": recipe.name, "model": str(model_dir), "max_tokens": args.max_tokens,
              "distinct_prompts": len(chats), "device": "gpu" if has_nvidia_gpu() else "cpu",
              "cpu_count": os.cpu_count(), "ready_after_s": {k: s["ready_s"] for k, s in servers.items()},
              "levels": rows}
    (out / "serving.json").write_text(json.dumps(result, indent=2))
    print(f"\n   written {out}/serving.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
