"""What the RAG gateway costs: vLLM directly vs through the gateway, in one run.

Starts vLLM (the recipe's serve.mode) and the gateway in front of it, each on a free
port, and measures with the official openai client (greedy, temperature 0):
  (a) overhead, retrieval off: N small non-streamed requests (max_tokens 1) sent one at
      a time, alternating direct / gateway (plain model name) so drift hits both alike;
      p50/p95 latency and the p50 difference (target < 5 ms).
  (b) streamed throughput per concurrency level: exactly --max-tokens output tokens per
      reply (min_tokens + ignore_eos), counted from the usage chunk (include_usage); one
      unmeasured warm-up round per level and target, then --rounds rounds of 4 x level
      requests each, in the order direct, gateway, gateway, direct, ... (ABBA); output
      tokens/s and the ratio gateway/direct (target >= 0.90 at 32). Also the CPU time each
      SSE event costs the gateway process and vLLM's API server process (Linux /proc): on a
      small CPU box vLLM's own throughput swings between identical rounds, so the ratio is
      noisy, while CPU per event is steady and says what relaying costs next to serving.
  (c) "<model>-rag": N/4 rounds of non-streamed plain and -rag requests (16 tokens each,
      forced) through the gateway, p50/p95; time to first byte (first SSE chunk) of the
      streamed -rag reply vs plain; the retriever's own time from the gateway's /metrics.
The plain model is the last served name (the adapter in LoRA mode, else the merged model).
Both servers are stopped at the end, whatever happens, and <run_dir>/recipe.resolved.yaml
(which the gateway rewrites) is put back. Results: <run_dir>/bench/gateway.json, logs beside it.

Run as:
    python -m bench.gateway recipes/quickstart.yaml [--concurrency 1,32] [--max-tokens 64] [--requests 200]
                            [--rounds 4] [key=value ...]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx
from openai import AsyncOpenAI

from bench.load_client import percentile
from bench.serving import DISTINCT_PROMPTS
from core.endpoints import api_key, models_answer, rag_model as rag_variant
from core.layout import RunLayout
from core.stage import command_status, recipe_from_argv
from envs.manage import has_nvidia_gpu
from serve import process
from serve.parity import load_chats
from serve.servers import gateway_server, vllm_server

RAG_TOKENS = 16  # output tokens of each (c) request


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe")
    parser.add_argument("overrides", nargs="*", help="recipe overrides, key.sub=value")
    parser.add_argument("--concurrency", default="1,32", help="comma-separated in-flight request counts (b)")
    parser.add_argument("--max-tokens", type=int, default=64, help="output tokens per streamed reply (b)")
    parser.add_argument("--requests", type=int, default=200, help="requests per target in (a); (c) does N/4")
    parser.add_argument("--rounds", type=int, default=4, help="measured rounds per target and level in (b)")
    args = parser.parse_intermixed_args(argv)
    args.levels = [int(c) for c in args.concurrency.split(",") if c.strip().isdigit()]
    if not args.levels or min(args.levels) < 1 or args.max_tokens < 1 or args.requests < 1 or args.rounds < 1:
        parser.error("--concurrency levels, --max-tokens, --requests and --rounds must be >= 1")
    return args


def stats(ms: list[float]) -> dict:  # ms in, ms out
    return {"n": len(ms), "p50_ms": round(percentile(ms, 50), 2), "p95_ms": round(percentile(ms, 95), 2),
            "mean_ms": round(sum(ms) / len(ms), 2)}


def forced(n: int) -> dict:  # vLLM sampling extras: exactly n output tokens
    return {"min_tokens": n, "ignore_eos": True}


async def ask(c: AsyncOpenAI, model: str, chat: list, max_tokens: int, extra: dict | None = None) -> float:
    """One non-streamed request; its latency in ms."""
    t0 = time.perf_counter()
    await c.chat.completions.create(model=model, messages=chat, max_tokens=max_tokens, temperature=0,
                                    extra_body=extra)
    return (time.perf_counter() - t0) * 1000


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (Linux /proc; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: clock ticks


async def streamed(c: AsyncOpenAI, model: str, chat: list, max_tokens: int) -> tuple[float, int, int]:
    """One streamed request read to the end: (ms to the first SSE chunk, output tokens, SSE chunks)."""
    t0, first, tokens, pieces, events = time.perf_counter(), None, 0, 0, 0
    stream = await c.chat.completions.create(model=model, messages=chat, max_tokens=max_tokens, temperature=0,
                                             stream=True, stream_options={"include_usage": True},
                                             extra_body=forced(max_tokens))
    async for chunk in stream:
        first = first or time.perf_counter()
        tokens = chunk.usage.completion_tokens if chunk.usage else tokens
        pieces += bool(chunk.choices and chunk.choices[0].delta.content)
        events += 1
    return ((first or time.perf_counter()) - t0) * 1000, tokens or pieces, events  # content chunks if no usage


async def stream_round(c: AsyncOpenAI, model: str, chats: list, level: int, n: int, max_tokens: int,
                       pids: dict[str, int]) -> dict:
    """n streamed requests, `level` in flight: output tokens, SSE events, wall and CPU seconds per pid."""
    gate, counts = asyncio.Semaphore(level), []

    async def one(i: int) -> None:
        async with gate:
            counts.append((await streamed(c, model, chats[i % len(chats)], max_tokens))[1:])
    cpu0, t0 = {name: cpu_seconds(pid) for name, pid in pids.items()}, time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    wall = time.perf_counter() - t0
    return {"tokens": sum(t for t, _ in counts), "events": sum(e for _, e in counts), "wall_s": wall,
            "cpu_s": {name: cpu_seconds(pid) - cpu0[name] for name, pid in pids.items()}}


def retrieval_totals(gw_root: str, key: str | None) -> tuple[float, float]:
    """(seconds, searches) so far, from the gateway's Prometheus histogram (/metrics needs the key)."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    lines = httpx.get(f"{gw_root}/metrics", headers=headers, timeout=10).text.splitlines()
    vals = dict(ln.rsplit(" ", 1) for ln in lines if ln.startswith("medkit_gateway_retrieval_seconds_"))
    return tuple(float(vals.get(f"medkit_gateway_retrieval_seconds_{k}", 0)) for k in ("sum", "count"))


async def bench(urls: dict[str, str], key: str | None, model: str, rag_model: str | None, chats: list,
                args: argparse.Namespace, pids: dict[str, int]) -> dict:
    def client(name: str) -> AsyncOpenAI:  # fresh pools per phase: no keep-alive the server closed while idle
        # the SDK's own pool (1,000 connections, 100 kept alive: enough for the default levels); its
        # HTTP library is the SDK's business, so no object of ours goes into it (openai 3.51: httpx2)
        return AsyncOpenAI(base_url=urls[name], api_key=key or "EMPTY", max_retries=0, timeout=600)

    result: dict = {}
    print(f"   (a) overhead: {args.requests} x max_tokens 1, alternating direct / gateway ...", flush=True)
    async with client("direct") as d, client("gateway") as g:
        for chat in chats:  # warm-up: prefix cache, connection pools (gateway -> vLLM too)
            await ask(d, model, chat, 1)
            await ask(g, model, chat, 1)
        lat: dict[str, list[float]] = {"direct": [], "gateway": []}
        for i in range(args.requests):
            lat["direct"].append(await ask(d, model, chats[i % len(chats)], 1))
            lat["gateway"].append(await ask(g, model, chats[i % len(chats)], 1))
    a = {k: stats(v) for k, v in lat.items()}
    a["p50_diff_ms"] = round(a["gateway"]["p50_ms"] - a["direct"]["p50_ms"], 2)
    a["paired_diff_p50_ms"] = round(percentile([g - d for d, g in zip(lat["direct"], lat["gateway"])], 50), 2)
    result["overhead"] = a

    result["throughput"] = []
    for level in args.levels:
        n = max(4 * level, 8)  # requests per round
        order = [("direct", "gateway") if i % 2 == 0 else ("gateway", "direct") for i in range(args.rounds)]
        print(f"   (b) concurrency {level}: warm-up, then {2 * args.rounds} rounds of {n} streamed requests "
              f"(ABBA...) ...", flush=True)
        rounds: dict[str, list] = {"direct": [], "gateway": []}  # stream_round() results
        async with client("direct") as d, client("gateway") as g:
            clients = {"direct": d, "gateway": g}
            for name in ("direct", "gateway", *(name for pair in order for name in pair)):  # first two unmeasured
                rounds[name].append(await stream_round(clients[name], model, chats, level,
                                                       n if len(rounds[name]) else level, args.max_tokens, pids))
        row = {"concurrency": level, "requests_each": args.rounds * n,
               "expected_tokens_each": args.rounds * n * args.max_tokens}
        for name, measured in rounds.items():
            tokens, wall = sum(r["tokens"] for r in measured[1:]), sum(r["wall_s"] for r in measured[1:])
            events = sum(r["events"] for r in measured[1:])
            cpu_us = {pid_name: round(sum(r["cpu_s"][pid_name] for r in measured[1:]) / events * 1e6, 1)
                      for pid_name in pids}  # CPU microseconds per SSE event the client received
            row[name] = {"tokens": tokens, "events": events, "wall_s": round(wall, 3),
                         "tokens_per_s": round(tokens / wall, 1), "per_round_tokens_per_s":
                         [round(r["tokens"] / r["wall_s"]) for r in measured[1:]], "cpu_us_per_event": cpu_us}
        row["ratio"] = round(row["gateway"]["tokens_per_s"] / row["direct"]["tokens_per_s"], 3)
        row["relay_cpu_share"] = round(row["gateway"]["cpu_us_per_event"]["gateway"]
                                       / row["direct"]["cpu_us_per_event"]["vllm_api"], 3)
        result["throughput"].append(row)

    result["rag"] = None
    if rag_model is None:
        return result
    n = max(args.requests // 4, 10)
    print(f"   (c) rag: {n} rounds of plain / -rag, non-streamed and streamed, {RAG_TOKENS} tokens ...", flush=True)
    gw_root = urls["gateway"].removesuffix("/v1")
    ms: dict[str, list[float]] = {"plain": [], "rag": [], "plain_ttfb": [], "rag_ttfb": []}
    async with client("gateway") as g:
        await ask(g, rag_model, chats[0], RAG_TOKENS, forced(RAG_TOKENS))  # warm-up: embedder, index
        before = retrieval_totals(gw_root, key)
        for i in range(n):
            chat = chats[i % len(chats)]
            ms["plain"].append(await ask(g, model, chat, RAG_TOKENS, forced(RAG_TOKENS)))
            ms["rag"].append(await ask(g, rag_model, chat, RAG_TOKENS, forced(RAG_TOKENS)))
            ms["plain_ttfb"].append((await streamed(g, model, chat, RAG_TOKENS))[0])
            ms["rag_ttfb"].append((await streamed(g, rag_model, chat, RAG_TOKENS))[0])
        after = retrieval_totals(gw_root, key)
    c = result["rag"] = {k: stats(v) for k, v in ms.items()}
    searches = after[1] - before[1]
    c["retrieval_mean_ms"] = round((after[0] - before[0]) / max(searches, 1) * 1000, 2)  # per search
    c["searches"] = int(searches)
    c["retrieval_share_of_rag_mean"] = round(c["retrieval_mean_ms"] / c["rag"]["mean_ms"], 3)  # mean / mean
    c["ttfb_added_share"] = round(1 - c["plain_ttfb"]["p50_ms"] / c["rag_ttfb"]["p50_ms"], 3)
    return result


def print_table(r: dict, max_tokens: int) -> None:
    def row(label: str, *cols) -> None:  # label, then numbers (ms, tok/s or ratio) in 12-wide columns
        print(f"       {label:36s}" + "".join(f" {c:>12.2f}" if isinstance(c, float) else f" {c:>12}" for c in cols))

    def head(title: str, *cols: str) -> None:
        print(f"\n   {title:40s}" + "".join(f" {c:>12}" for c in cols))

    a = r["overhead"]
    head("(a) overhead, sequential, max_tokens 1", "p50 ms", "p95 ms")
    for name in ("direct", "gateway"):
        row(f"{name} (n={a[name]['n']})", a[name]["p50_ms"], a[name]["p95_ms"])
    print(f"       p50 gateway - direct: {a['p50_diff_ms']:.2f} ms (target < 5 ms: "
          f"{'ok' if a['p50_diff_ms'] < 5 else 'MISSED'}); "
          f"median of paired differences {a['paired_diff_p50_ms']:.2f} ms")
    head(f"(b) streamed, {max_tokens} tokens/reply, tok/s", "direct", "gateway", "gw/direct")
    for t in r["throughput"]:
        row(f"concurrency {t['concurrency']}", t["direct"]["tokens_per_s"], t["gateway"]["tokens_per_s"], t["ratio"])
    for t in r["throughput"]:
        direct, via = t["direct"]["per_round_tokens_per_s"], t["gateway"]["per_round_tokens_per_s"]
        print(f"       concurrency {t['concurrency']}, rounds: direct {direct}, gateway {via}")
    head("    CPU us per SSE event", "vLLM API", "gateway", "gw/vLLM")
    for t in r["throughput"]:
        row(f"concurrency {t['concurrency']}", t["direct"]["cpu_us_per_event"]["vllm_api"],
            t["gateway"]["cpu_us_per_event"]["gateway"], t["relay_cpu_share"])
    c = r["rag"]
    if c is None:
        print("\n   (c) skipped: the gateway lists no '-rag' model (no rag section or no index)")
        return
    head(f"(c) via the gateway, {RAG_TOKENS} tokens/reply", "p50 ms", "p95 ms", "mean ms")
    for key, label in (("plain", "plain, non-streamed"), ("rag", "-rag, non-streamed"),
                       ("plain_ttfb", "plain, streamed: first byte"), ("rag_ttfb", "-rag, streamed: first byte")):
        row(label, c[key]["p50_ms"], c[key]["p95_ms"], c[key]["mean_ms"])
    print(f"       retrieval (gateway /metrics): {c['retrieval_mean_ms']:.2f} ms mean over {c['searches']} searches, "
          f"{c['retrieval_share_of_rag_mean']:.0%} of the mean -rag request")
    print(f"       retrieval share of the -rag first byte (p50, 1 - plain/-rag): {c['ttfb_added_share']:.0%}")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    vllm_port = gw_port = process.free_port()
    while gw_port == vllm_port:  # two probes may hand back the same port
        gw_port = process.free_port()
    overrides = [*args.overrides, f"serve.port={vllm_port}", f"rag.gateway.port={gw_port}"]
    recipe = recipe_from_argv([args.recipe, *overrides])
    layout = RunLayout.of(recipe)
    out = layout.bench
    out.mkdir(parents=True, exist_ok=True)
    chats = load_chats(recipe, DISTINCT_PROMPTS)
    spec = replace(vllm_server(recipe, server="bench-gw-vllm", name=f"vLLM bench-gw ({recipe.serve.mode})"),
                   log=out / "gw-vllm.log")  # recipe's mode, port = serve.port override
    model, key = spec.models[-1], api_key(recipe)
    pid_files = {"vllm": spec.pid_file, "gateway": layout.pid_file("bench-gw")}
    resolved = layout.resolved_recipe  # the gateway rewrites it with the bench ports
    saved = resolved.read_text(encoding="utf-8") if resolved.exists() else None
    print(f"== bench.gateway: '{recipe.name}', vLLM ({recipe.serve.mode}) on :{vllm_port}, gateway on :{gw_port}, "
          f"model '{model}', {len(chats)} distinct chats")
    try:
        rec = process.start(spec)
        # the rag.gateway.port override creates the section if the recipe has none
        gw_spec = replace(gateway_server(recipe, spec.models, server="bench-gw", name="RAG gateway (bench)"),
                          log=out / "gateway.log")
        gw_url = gw_spec.url
        print(f"   vLLM ready after {rec.ready_after_s} s; starting the gateway, log {out}/gateway.log")
        gw_rec = process.start(gw_spec)
        pids = {"vllm_api": rec.pid, "gateway": gw_rec.pid}  # vLLM's API server, not its engine
        listed = models_answer(gw_url, key) or []
        wanted = rag_variant(model, recipe.rag.gateway.model_suffix)
        rag_model = wanted if wanted in listed else None
        result = asyncio.run(bench({"direct": spec.url, "gateway": gw_url}, key, model, rag_model, chats, args,
                                   pids))
    finally:
        for file in pid_files.values():
            stopped = process.stop(file)
            if stopped:
                print(f"   stopped {stopped}")
        if saved is not None:
            resolved.write_text(saved, encoding="utf-8")
    print_table(result, args.max_tokens)
    result = {"recipe": recipe.name, "mode": recipe.serve.mode, "model": model, "rag_model": rag_model,
              "max_tokens": args.max_tokens, "rag_tokens": RAG_TOKENS, "distinct_prompts": len(chats),
              "device": "gpu" if has_nvidia_gpu() else "cpu", "cpu_count": os.cpu_count(), **result}
    (out / "gateway.json").write_text(json.dumps(result, indent=2))
    print(f"\n   written {out}/gateway.json")
    return 0


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
