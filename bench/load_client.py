"""One closed-loop load measurement, as its own process, so that `make bench` can place the client
in the caller's session or in a session of its own (each session is its own CFS autogroup on Linux).

Sends the chats with at most `concurrency` in flight through the official openai client, greedy,
exactly `max_tokens` output tokens per reply when --forced (vLLM: min_tokens + ignore_eos). First
`warmup` unmeasured requests (vLLM compiles each new batch shape once), then `requests` measured;
prints one JSON line: tokens/s (sum of completion_tokens / wall time), latency p50/p95 in ms, and the
CPU seconds this process used and spent waiting for a core (Linux schedstat: a starved client shows
there). The chats come on stdin as a JSON list; the API key, if any, in MEDKIT_BENCH_KEY.

Run as (bench/serving.py does):
    python -m bench.load_client URL MODEL --concurrency 32 --requests 128 --max-tokens 64 --forced < chats.json
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from pathlib import Path

from openai import AsyncOpenAI
from core.stage import command_status


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def scheduler_seconds() -> tuple[float, float]:
    """(seconds on a core, seconds runnable but waiting for one) of this process's threads; zeros
    where the kernel has no schedstat."""
    run = wait = 0
    for task in Path("/proc/self/task").glob("*/schedstat"):
        try:
            on_cpu, waited, _ = map(int, task.read_text().split())
        except (OSError, ValueError):
            continue
        run, wait = run + on_cpu, wait + waited
    return run / 1e9, wait / 1e9


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

    cpu0, wait0 = scheduler_seconds()
    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(requests)))
    wall_s = time.perf_counter() - start
    cpu1, wait1 = scheduler_seconds()
    return {"concurrency": concurrency, "requests": requests, "wall_s": round(wall_s, 3),
            "completion_tokens": sum(tokens), "tokens_per_s": round(sum(tokens) / wall_s, 1),
            "p50_ms": round(percentile(latencies_ms, 50), 1), "p95_ms": round(percentile(latencies_ms, 95), 1),
            "client_cpu_s": round(cpu1 - cpu0, 3), "client_wait_s": round(wait1 - wait0, 3),
            "short_replies": sum(t != max_tokens for t in tokens)}  # 0 when lengths are forced


async def measure(args: argparse.Namespace, chats: list) -> dict:
    extra = {"min_tokens": args.max_tokens, "ignore_eos": True} if args.forced else None
    # timeout: requests queued behind a one-at-a-time baseline wait long
    async with AsyncOpenAI(base_url=args.url, api_key=os.environ.get("MEDKIT_BENCH_KEY") or "EMPTY",
                           max_retries=0, timeout=1800) as client:
        if args.warmup:
            await run_level(client, args.model, chats, args.concurrency, args.warmup, args.max_tokens, extra)
        return await run_level(client, args.model, chats, args.concurrency, args.requests, args.max_tokens, extra)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load_client", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("model")
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--max-tokens", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=0, help="unmeasured requests first")
    parser.add_argument("--forced", action="store_true", help="exactly --max-tokens per reply (vLLM's extras)")
    args = parser.parse_args(argv)
    chats = json.load(sys.stdin)
    print(json.dumps({**asyncio.run(measure(args, chats)), "session": os.getsid(0)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
