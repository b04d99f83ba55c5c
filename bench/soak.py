"""Soak and fault: streamed clients through the gateway, vLLM killed with SIGKILL mid-run, restarted;
or, with --no-kill, the load alone for --seconds, where anything but a complete stream fails the run.

Starts vLLM (the recipe's serve.mode) and the RAG gateway on free loopback ports, then runs
--clients streamed chat clients against the gateway (alternating the plain model and its
'-rag' variant when the index is built). At --kill-at seconds vLLM's API server gets SIGKILL
(its engine is left running, as a crash leaves it); the script then restarts vLLM the way
`make serve` does, which first stops those leftovers. The clients keep going until --after
seconds past the restart (at most --max-seconds in all). Every stream is classified:

  complete     HTTP 200, every event a JSON chunk, ended by [DONE]
  error_event  HTTP 200, then an OpenAI-shaped error event and [DONE] (vLLM died under it)
  http_error   an HTTP status >= 400 with an OpenAI-shaped body (503 while vLLM is down)
  lost         the connection ended without [DONE], or the client saw a transport error
  garbled      an event that is not JSON, or JSON that is neither a chunk nor an error

and the summary gives the counts, error latency (kill -> the error event of a stream in flight;
request -> answer for the refused ones), recovery seconds (kill -> first stream started after it
that completes), restart seconds, the leftovers the restart stopped, and processes left at the end.
Everything binds 127.0.0.1. It starts vLLM: run it alone on a small machine.
Result: <run_dir>/bench/soak.json. Exit status 1 on a lost or garbled stream or a process left
running; with --no-kill also on any HTTP error or error event (nothing may fail under load alone).

Run as:
    python -m bench.soak recipes/quickstart.yaml [--clients 16] [--kill-at 20] [--after 20]
                         [--max-tokens 32] [--max-seconds 300] [key=value ...]
    python -m bench.soak recipes/quickstart.yaml --no-kill --clients 64 --seconds 60 --max-tokens 64
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import sys
import time
from collections import Counter
from dataclasses import replace

import httpx

from bench.load_client import percentile
from core.endpoints import api_key, models_answer, rag_model
from core.layout import RunLayout
from core.server_record import ServerRecord
from core.stage import command_status, recipe_from_argv
from serve import process
from serve.parity import load_chats
from serve.servers import gateway_server, vllm_server


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe")
    parser.add_argument("overrides", nargs="*", help="recipe overrides, key.sub=value")
    parser.add_argument("--clients", type=int, default=16, help="streamed clients, each one request at a time")
    parser.add_argument("--kill-at", type=float, default=20.0, help="seconds into the run: SIGKILL vLLM")
    parser.add_argument("--after", type=float, default=20.0, help="seconds to keep going after the restart")
    parser.add_argument("--max-tokens", type=int, default=32, help="output tokens per reply")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="hard limit on the whole run")
    parser.add_argument("--no-kill", action="store_true", help="no fault: the load alone, for --seconds")
    parser.add_argument("--seconds", type=float, default=60.0, help="with --no-kill: how long the clients loop")
    args = parser.parse_intermixed_args(argv)
    if args.clients < 1 or args.kill_at <= 0 or args.after < 0 or args.max_tokens < 1:
        parser.error("--clients and --max-tokens must be >= 1, --kill-at > 0, --after >= 0")
    return args


def classify(status: int, body: bytes, saw_done: bool) -> str:
    """One stream's outcome from its status, raw body and whether [DONE] arrived."""
    if status >= 400:
        try:
            error = json.loads(body)["error"]
            return "http_error" if error["message"] and error["code"] == status else "garbled"
        except (ValueError, KeyError, TypeError):
            return "garbled"
    kind = "complete"
    for event in body.split(b"\n\n"):
        if not event.strip():
            continue
        if not event.startswith(b"data: "):
            return "garbled"
        data = event[6:]
        if data == b"[DONE]":
            continue
        try:
            payload = json.loads(data)
        except ValueError:
            return "garbled"
        if "error" in payload:
            kind = "error_event"
        elif payload.get("object") != "chat.completion.chunk":
            return "garbled"
    return kind if saw_done else "lost"


class Soak:
    def __init__(self, url: str, key: str | None, models: list[str], chats: list, max_tokens: int):
        self.url, self.models, self.chats, self.max_tokens = url, models, chats, max_tokens
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.results: list[dict] = []
        self.killed_at: float | None = None
        self.stop_at = float("inf")

    async def one(self, client: httpx.AsyncClient, n: int, model: str) -> dict:
        body = {"model": model, "messages": self.chats[n % len(self.chats)], "max_tokens": self.max_tokens,
                "temperature": 0, "stream": True}
        started, status, raw, done = time.time(), 0, b"", False
        try:
            async with client.stream("POST", f"{self.url}/chat/completions", json=body,
                                     headers=self.headers) as reply:
                status = reply.status_code
                async for chunk in reply.aiter_bytes():
                    raw += chunk
                done = raw.rstrip().endswith(b"data: [DONE]")
        except httpx.HTTPError as exc:
            return {"started": started, "ended": time.time(), "model": model, "kind": "lost",
                    "status": status, "why": f"{type(exc).__name__}: {exc}"}
        result = {"started": started, "ended": time.time(), "model": model, "status": status,
                  "kind": classify(status, raw, done) if status else "lost"}
        if result["kind"] == "http_error":  # what the gateway said, for the summary's error_messages
            result["why"] = json.loads(raw)["error"]["message"]
        return result

    async def client(self, c: int) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(timeout=httpx.Timeout(120.0, connect=10.0), limits=limits) as client:
            n = c
            while time.time() < self.stop_at:
                result = await self.one(client, n, self.models[c % len(self.models)])
                self.results.append(result)
                n += 1
                if result["kind"] != "complete":
                    await asyncio.sleep(0.2)  # a refused client retries, but not in a hot loop


def summarise(results: list[dict], killed_at: float | None, restart: dict, t0: float) -> dict:
    kinds = {k: sum(r["kind"] == k for r in results) for k in
             ("complete", "error_event", "http_error", "lost", "garbled")}
    load = {"requests": len(results), **kinds, "statuses": sorted({r["status"] for r in results}),
            "by_model": {m: sum(r.get("model") == m for r in results)
                         for m in sorted({r.get("model") or "" for r in results})},
            "seconds": round(max((r["ended"] for r in results), default=t0) - t0, 1),
            # each distinct error text once, ports and pids replaced by N, with its count
            "error_messages": dict(Counter(re.sub(r"\d+", "N", r["why"]) for r in results if r.get("why")))}
    if killed_at is None:  # --no-kill
        return load
    in_flight = [r for r in results if r["started"] < killed_at <= r["ended"]]
    cut = [r for r in in_flight if r["kind"] != "complete"]
    cut_ms = [(r["ended"] - killed_at) * 1000 for r in cut]  # kill -> the client learnt its stream ended
    refused_ms = [(r["ended"] - r["started"]) * 1000 for r in results
                  if r["kind"] == "http_error" and r["started"] >= killed_at]
    after = sorted((r for r in results if r["started"] >= killed_at and r["kind"] == "complete"),
                   key=lambda r: r["ended"])
    def ms(xs: list[float]) -> dict:
        if not xs:
            return {"n": 0}
        return {"n": len(xs), "p50": round(percentile(xs, 50), 1), "p95": round(percentile(xs, 95), 1),
                "max": round(max(xs), 1)}

    return {**load, "in_flight_at_kill": len(in_flight), "in_flight_completed": len(in_flight) - len(cut),
            "cut_stream_end_ms_after_kill": ms(cut_ms), "refused_answer_ms": ms(refused_ms),
            "kill_s": round(killed_at - t0, 1), "restart_s": restart.get("seconds"),
            "leftovers_stopped_at_restart": restart.get("leftovers", []),
            "recovery_s": round(after[0]["ended"] - killed_at, 1) if after else None,
            "complete_after_recovery": len(after)}


async def run(args: argparse.Namespace, soak: Soak, kill_and_restart) -> tuple[float | None, dict, float]:
    t0 = time.time()
    soak.stop_at = t0 + (min(args.seconds, args.max_seconds) if args.no_kill else args.max_seconds)
    clients = [asyncio.create_task(soak.client(c)) for c in range(args.clients)]
    if args.no_kill:
        await asyncio.gather(*clients)
        return None, {}, t0
    await asyncio.sleep(args.kill_at)
    killed_at, restart = await asyncio.to_thread(kill_and_restart)
    soak.stop_at = min(soak.stop_at, time.time() + args.after)
    await asyncio.gather(*clients)
    return killed_at, restart, t0


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    vllm_port = gw_port = process.free_port()
    while gw_port == vllm_port:
        gw_port = process.free_port()
    overrides = [*args.overrides, "serve.host=127.0.0.1", "rag.gateway.host=127.0.0.1",
                 f"serve.port={vllm_port}", f"rag.gateway.port={gw_port}"]
    recipe = recipe_from_argv([args.recipe, *overrides])
    layout = RunLayout.of(recipe)
    out = layout.bench
    out.mkdir(parents=True, exist_ok=True)
    key = api_key(recipe)
    vllm_spec = replace(vllm_server(recipe, server="soak-vllm", name=f"vLLM soak ({recipe.serve.mode})"),
                        log=out / "soak-vllm.log")
    pid_files = {"vllm": vllm_spec.pid_file, "gateway": layout.pid_file("soak-gw")}
    resolved = layout.resolved_recipe  # the gateway rewrites it with the soak ports
    saved = resolved.read_text(encoding="utf-8") if resolved.exists() else None

    def start_vllm() -> ServerRecord:
        return process.start(vllm_spec)

    def kill_and_restart() -> tuple[float, ServerRecord]:
        record = process.read_record(pid_files["vllm"])
        os.kill(record.pid, signal.SIGKILL)  # the API server only, as an OOM kill or a crash would
        killed_at = time.time()
        print(f"   t={killed_at - t_start:.1f} s: SIGKILL vLLM API server pid {record.pid}", flush=True)
        while record.pid in process.server_pids(record):
            time.sleep(0.05)
        leftovers = process.server_pids(record)
        left_rss = process.rss_bytes(leftovers)
        print(f"   left running: {leftovers} ({left_rss / 2**30:.1f} GiB); restarting as `make serve` does",
              flush=True)
        begun = time.time()
        start_vllm()
        seconds = round(time.time() - begun, 1)
        print(f"   vLLM ready again after {seconds} s", flush=True)
        return killed_at, {"seconds": seconds, "leftovers": leftovers, "leftovers_gib": round(left_rss / 2**30, 2),
                           "leftovers_alive_after_restart": [p for p in leftovers if process.cmdline(p)]}

    try:
        print(f"== bench.soak: '{recipe.name}', vLLM :{vllm_port}, gateway :{gw_port}, {args.clients} clients")
        start_vllm()
        gw_spec = replace(gateway_server(recipe, vllm_spec.models, server="soak-gw", name="RAG gateway (soak)"),
                          log=out / "soak-gateway.log")
        gw_url = gw_spec.url
        process.start(gw_spec)
        listed = models_answer(gw_url, key) or []
        plain = vllm_spec.models[-1]
        rag = rag_model(plain, recipe.rag.gateway.model_suffix)
        models = [plain] + ([rag] if rag in listed else [])
        soak = Soak(gw_url, key, models, load_chats(recipe, 16), args.max_tokens)
        plan = (f"no fault, {args.seconds} s" if args.no_kill else
                f"SIGKILL at {args.kill_at} s, then {args.after} s after the restart")
        print(f"   models {models}; {plan}", flush=True)
        t_start = time.time()
        killed_at, restart, t0 = asyncio.run(run(args, soak, kill_and_restart))
    finally:
        records = [r for r in (process.read_record(f) for f in pid_files.values()) if r]
        for file in pid_files.values():
            process.stop(file)
        if saved is not None:
            resolved.write_text(saved, encoding="utf-8")
    summary = summarise(soak.results, killed_at, restart, t0)
    summary["leftovers_alive_after_restart"] = restart.get("leftovers_alive_after_restart")
    summary["leftovers_gib"] = restart.get("leftovers_gib")
    summary["processes_left_after_stop"] = sum(len(process.server_pids(r)) for r in records)
    summary.update(clients=args.clients, models=models, max_tokens=args.max_tokens, cpu_count=os.cpu_count())
    print(json.dumps(summary, indent=2))
    (out / "soak.json").write_text(json.dumps(summary, indent=2))
    print(f"   written {out}/soak.json")
    failed = summary["lost"] + summary["garbled"] + summary["processes_left_after_stop"]
    if args.no_kill:  # under load alone every stream must complete
        failed += summary["http_error"] + summary["error_event"]
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
