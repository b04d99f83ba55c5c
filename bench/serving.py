"""`make bench`: what `make serve` keeps of vLLM's speed, for clients in any session, and what vLLM gains
over transformers.

Three engines load the same merged model (<run_dir>/merged), ONE AT A TIME, in alternating rounds
(make serve, plain vLLM, transformers, make serve, plain vLLM, ...):
  make-serve    vLLM with exactly the command line and environment `make serve` uses
                (serve.vllm_cmd.plan), started the way `make serve` starts it (serve/process.py: a
                session of its own, its autogroup at serve.cpu_autogroup_nice); when the recipe has a
                rag section, the RAG gateway in front of it too (the "via gateway" rows: plain model
                name, retrieval off, the path every toolkit client takes)
  plain-vllm    the same vLLM binary with only --model and --port, started in this process's session,
                as a user starts it by hand from a shell (on CPU with VLLM_CPU_KVCACHE_SPACE, which
                vLLM's CPU build needs there)
  transformers  bench/hf_server.py: model.generate for one request at a time (the hand-written server
                this toolkit replaces)
Optional (--engines): make-serve-lora (the base with the adapter mounted, as serve.mode=lora starts
it), make-serve-dp2 (make-serve with serve.data_parallel_size=2: two vLLM engine replicas behind one API
server), make-serve-eager (make-serve with --enforce-eager: no torch.compile, which vLLM's CPU build also
skips whenever LoRA is enabled), make-serve-quantized (`make quantize`'s model, as serve.mode=quantized
starts it), transformers-peft (the base with the adapter).

Client placements. The load client (bench/load_client.py) is a process of its own, measured twice on
every server start: in the caller's session ("caller", as `make eval` in the terminal that ran `make
bench`) and in a new session ("own", as a script in another terminal, the demo or the gateway). On
Linux each session is its own scheduler autogroup, and that decides how a client fares next to vLLM's
busy-waiting CPU processes. The order of the two alternates between rounds.

Each engine is started fresh in every round, so the spread between rounds shows how steady a launch
is. For each concurrency level the client sends a fixed set of chats (test split first, cycled), greedy,
exactly --max-tokens output tokens per reply (vLLM: min_tokens + ignore_eos; transformers:
min_new_tokens): output tokens/s (sum of completion_tokens / wall time), latency p50/p95 and the
client's own CPU and run-queue wait. vLLM gets 2 x concurrency unmeasured requests first (it compiles
each new batch shape once), then 4 x concurrency measured; the serial baseline gets max(concurrency, 8).

Printed: the CPU's flags, every round, then per level and placement the mean tok/s of each engine
(min-max) and the ratios of the means, each against its target:
  make-serve/plain-vllm     make serve (either placement) / plain vLLM with its client in the same
                            session (caller placement: the best hand launch)                target >= 0.9
  make-serve/transformers   at concurrency 32, same placement                             target >= 10
  gateway/direct            make serve via the gateway / directly, same placement           target >= 0.9
Results: <run_dir>/bench/serving.json, logs beside it.

Run as:
    python -m bench.serving recipes/quickstart.yaml [--rounds 2] [--max-tokens 64] [--concurrency 32] [key=value ...]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from core import cpu
from core.endpoints import api_key, base_url, models_answer
from core.errors import StageFailed
from core.layout import RunLayout
from core.layout import base_model_path
from core.recipe.schema import Recipe
from core.stage import command_status, recipe_from_argv
from envs import bin_of
from envs.manage import has_nvidia_gpu
from serve import process
from serve.parity import load_chats
from serve.process import LaunchPlan, ServerSpec
from serve.servers import gateway_server
from serve.vllm_cmd import plan

DISTINCT_PROMPTS = 16  # chats taken from the data splits, then cycled
HOST = "127.0.0.1"
ENGINES = ("make-serve", "plain-vllm", "transformers", "make-serve-lora", "make-serve-eager", "make-serve-dp2",
           "make-serve-quantized", "transformers-peft")
DEFAULT_ENGINES = "make-serve,plain-vllm,transformers"
PLACEMENTS = ("caller", "own")  # the load client in the caller's session / in a session of its own
GATEWAY = "make-serve via gateway"
BEST_HAND = ("plain-vllm", "caller")  # plain vLLM and its client in one session: the fastest hand launch
# ratio of the means: target, or None for a ratio shown without one. vLLM's CPU build runs a server with
# LoRA enabled uncompiled, so make-serve-lora/make-serve-eager is what the LoRA computation itself costs
TARGETS = {"make-serve/plain-vllm": 0.9, "make-serve/transformers": 10.0, "gateway/direct": 0.9,
           "make-serve-lora/make-serve": 0.5, "make-serve-eager/make-serve": None,
           "make-serve-lora/make-serve-eager": None, "make-serve-dp2/make-serve": None,
           "make-serve-quantized/make-serve": 1.5}  # issue target: 1.5x the tok/s at c=32, or 2x smaller on disk

AT_32_ONLY = ("make-serve/transformers", "make-serve-quantized/make-serve")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.serving", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe")
    parser.add_argument("overrides", nargs="*", help="recipe overrides, key.sub=value")
    parser.add_argument("--max-tokens", type=int, default=64, help="output tokens per request (exact)")
    parser.add_argument("--concurrency", default="32", help="comma-separated in-flight request counts")
    parser.add_argument("--rounds", type=int, default=2, help="fresh starts of each engine, alternating")
    parser.add_argument("--engines", default=DEFAULT_ENGINES, help=f"a subset of {','.join(ENGINES)}")
    parser.add_argument("--no-gateway", action="store_true", help="skip the make-serve via gateway rows")
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


def engine_launch(engine: str, recipe: Recipe, port: int) -> dict:
    """argv, environment and client settings of one engine on `port`."""
    model_dir = str(RunLayout.of(recipe).merged.resolve())
    if engine.startswith("make-serve"):
        lora = engine == "make-serve-lora"
        mode = "lora" if lora else "quantized" if engine == "make-serve-quantized" else "merged"
        if engine == "make-serve-dp2":  # two engine replicas (serve.data_parallel_size), the rest as recipe says
            recipe = recipe.model_copy(deep=True)
            recipe.serve.data_parallel_size = 2
        launch = plan(recipe, mode=mode, port=port)  # exits if the model is missing
        eager = ["--enforce-eager"] if engine == "make-serve-eager" else []  # no torch.compile
        # the LoRA server's first adapter (models[1]), the merged server's only model
        return {"argv": launch.argv + eager, "env": launch.env, "url": launch.url, "model": launch.models[int(lora)],
                "models": launch.models, "key": api_key(recipe), "vllm": True, "nice": launch.autogroup_nice}
    if engine == "plain-vllm":
        argv = [bin_of("serve"), "-m", "vllm.entrypoints.openai.api_server", "--model", model_dir,
                "--port", str(port)]
        # The one setting a user must give vLLM's CPU build by hand: by default it claims 92% of
        # the RAM for its KV cache and refuses to start when less is free. The same size as make serve.
        env = {} if has_nvidia_gpu() else {"VLLM_CPU_KVCACHE_SPACE": str(recipe.serve.cpu_kvcache_space_gib)}
        return {"argv": argv, "env": env, "url": base_url(HOST, port), "model": model_dir,
                "key": None, "vllm": True, "by_hand": True}
    argv = [bin_of("train"), "-m", "bench.hf_server", model_dir, "--port", str(port), "--served-model-name", "bench"]
    if engine == "transformers-peft":  # the base with the adapter applied on the fly (not merged)
        argv[3:4] = [base_model_path(recipe), "--adapter", str(RunLayout.of(recipe).trained.resolve())]
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")])),
           "HF_HUB_OFFLINE": "1"}
    return {"argv": argv, "env": env, "url": base_url(HOST, port), "model": "bench",
            "key": None, "vllm": False}


class HandLaunch:
    """vLLM started as a user starts it from a shell: in this process's session (a process group of its
    own, so that it and every worker it spawns stop together), no pid file, no nice value."""

    def __init__(self, spec: dict, port: int, log: Path, timeout_s: int):
        with log.open("w", encoding="utf-8") as out:
            self.proc = subprocess.Popen(spec["argv"], stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env={**os.environ, **spec["env"]},
                                         process_group=0)
        started = time.time()
        while models_answer(spec["url"], None) is None:
            if self.proc.poll() is not None or time.time() - started > timeout_s:
                self.stop()
                raise StageFailed(f"vLLM by hand did not come up on :{port}. Last lines of {log}:\n"
                                  f"{process.log_tail(log)}")
            time.sleep(1.0)
        self.ready_after_s = round(time.time() - started, 1)

    def stop(self) -> None:
        process.kill_group(self.proc.pid)


def load(spec: dict, url: str, model: str, chats: list, level: int, max_tokens: int, placement: str) -> dict:
    """One measured level by bench/load_client.py, in the caller's session or in one of its own."""
    warmup, n = (2 * level, max(4 * level, 16)) if spec["vllm"] else (1, max(level, 8))
    argv = [bin_of("app"), "-m", "bench.load_client", url, model, "--concurrency", str(level),
            "--requests", str(n), "--max-tokens", str(max_tokens), "--warmup", str(warmup)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")])),
           "MEDKIT_BENCH_KEY": spec["key"] or ""}
    done = subprocess.run(argv + (["--forced"] if spec["vllm"] else []), input=json.dumps(chats), text=True,
                          capture_output=True, env=env, start_new_session=placement == "own")
    if done.returncode != 0:
        raise StageFailed(f"the load client failed against {url}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def one_round(engine: str, args: argparse.Namespace, chats: list, out: Path, round_no: int) -> list[dict]:
    """Start `engine` (make-serve: with the gateway in front when the recipe has rag), measure every level
    in both placements, stop it; one result per (engine path, placement)."""
    port, gw_port = process.free_port(), process.free_port()
    while gw_port == port:  # two probes may hand back the same port
        gw_port = process.free_port()
    recipe = recipe_from_argv([args.recipe, *args.overrides, f"serve.port={port}"]
                              + ([f"rag.gateway.port={gw_port}"] if args.with_gateway else []))
    layout = RunLayout.of(recipe)
    spec = engine_launch(engine, recipe, port)
    paths = {engine: (spec["url"], spec["model"])}
    pid_files, hand = [layout.pid_file(f"bench-{engine}")], None
    resolved = layout.resolved_recipe  # the gateway rewrites it with the bench ports
    saved = resolved.read_text(encoding="utf-8") if resolved.exists() else None
    try:
        if spec.get("by_hand"):
            hand = HandLaunch(spec, port, out / f"{engine}.log", recipe.serve.startup_timeout_s)
            ready = hand.ready_after_s
        else:
            plan = LaunchPlan(argv=spec["argv"], env=spec["env"], models=[spec["model"]], url=spec["url"], host=HOST,
                              port=port, autogroup_nice=spec.get("nice", 0))
            record = process.start(ServerSpec(name=f"{engine} (bench)", plan=plan, pid_file=pid_files[0],
                                              log=out / f"{engine}.log", timeout_s=recipe.serve.startup_timeout_s,
                                              api_key=spec["key"]))
            ready = record.ready_after_s
        if engine == "make-serve" and args.with_gateway:
            gw = gateway_server(recipe, spec["models"], server="bench-gateway", name="RAG gateway (bench)")
            gw.log = out / "gateway.log"
            pid_files.append(gw.pid_file)
            process.start(gw)
            paths[GATEWAY] = (gw.url, spec["model"])
        order = PLACEMENTS if round_no % 2 else PLACEMENTS[::-1]
        results = {(path, placement): [] for path in paths for placement in order}
        for level in args.levels:
            for placement in order:
                for path, (url, model) in paths.items():
                    results[(path, placement)].append(
                        load(spec, url, model, chats, level, args.max_tokens, placement))
    finally:
        if hand:
            hand.stop()
        for pid_file in pid_files:
            process.stop(pid_file)
        if saved is not None:
            resolved.write_text(saved, encoding="utf-8")
    rounds = []
    for (path, placement), rows in results.items():
        rounds.append({"engine": path, "placement": placement, "round": round_no, "ready_after_s": ready,
                       "levels": rows})
        for row in rows:
            print(f"   round {round_no}  {path:22s} client {placement:6s}  ready {ready:5.1f} s  "
                  f"c={row['concurrency']:<4d} {row['tokens_per_s']:8.1f} tok/s  "
                  f"p50/p95 {row['p50_ms']:6.0f}/{row['p95_ms']:<6.0f} ms  "
                  f"client cpu/wait {row['client_cpu_s']:.2f}/{row['client_wait_s']:.2f} s", flush=True)
    return rounds


def summarise(rounds: list[dict], levels: list[int]) -> list[dict]:
    """Per level and placement: mean, min and max tok/s of each engine path over its rounds, and the
    ratios of the means (make-serve/plain-vllm against the best hand launch)."""
    def means(i: int, placement: str) -> dict:
        row = {}
        for path in (*ENGINES, GATEWAY):
            values = [r["levels"][i]["tokens_per_s"] for r in rounds
                      if r["engine"] == path and r["placement"] == placement]
            if values:
                row[path] = {"mean": round(statistics.fmean(values), 1), "min": min(values),
                             "max": max(values), "rounds": len(values)}
        return row

    summary = []
    for i, level in enumerate(levels):
        best = means(i, BEST_HAND[1]).get(BEST_HAND[0])
        for placement in PLACEMENTS:
            row: dict = {"concurrency": level, "placement": placement, **means(i, placement)}
            pairs = {"make-serve/plain-vllm": (row.get("make-serve"), best),
                     "gateway/direct": (row.get(GATEWAY), row.get("make-serve"))}
            for name in TARGETS:
                top, bottom = pairs.get(name) or (row.get(name.split("/")[0]), row.get(name.split("/")[1]))
                if top and bottom:
                    row[name] = round(top["mean"] / max(bottom["mean"], 1e-9), 2)
            summary.append(row)
    return summary


def print_summary(summary: list[dict]) -> None:
    paths = [e for e in (*ENGINES, GATEWAY) if any(e in row for row in summary)]
    ratios = {n: t for n, t in TARGETS.items() if any(n in row for row in summary)}
    print(f"\n   {'c':>4s} {'client':>6s} | " + " | ".join(f"{e + ' tok/s':>26s}" for e in paths)
          + " | " + " | ".join(f"{n:>28s}" for n in ratios))
    for row in summary:
        cells = [f"{row[e]['mean']:9.1f} ({row[e]['min']:.0f}-{row[e]['max']:.0f})" if e in row else "—"
                 for e in paths]
        shown = []
        for name, target in ratios.items():
            if name not in row:
                shown.append("—")
                continue
            # make-serve/transformers and the quantized ratio have their targets at concurrency 32 only
            judged = target and (name not in AT_32_ONLY or row["concurrency"] == 32)
            verdict = (" ok" if row[name] >= target else " MISSED") if judged else ""
            shown.append(f"{row[name]:6.2f}x" + (f" (target {target:g}{verdict})" if judged else ""))
        print(f"   {row['concurrency']:4d} {row['placement']:>6s} | " + " | ".join(f"{c:>26s}" for c in cells)
              + " | " + " | ".join(f"{r:>28s}" for r in shown))
    print(f"   make-serve/plain-vllm: against plain vLLM with its client in the same session (the best hand "
          f"launch); gateway/direct: make serve through its RAG gateway (retrieval off) / directly")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    # a SIGTERM (kill, a CI timeout) unwinds like Ctrl-C: the finally blocks stop what this run started,
    # the hand-launched vLLM included, which has no pid file for `make stop` to find
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    recipe = recipe_from_argv([args.recipe, *args.overrides])
    args.with_gateway = recipe.rag is not None and "make-serve" in args.engine_list and not args.no_gateway
    out = RunLayout.of(recipe).bench
    out.mkdir(parents=True, exist_ok=True)
    plan(recipe, mode="merged", port=recipe.serve.port)  # exits early if there is no merged model
    chats = load_chats(recipe, DISTINCT_PROMPTS)
    flags = cpu.describe()
    print(f"== bench: '{recipe.name}', model {RunLayout.of(recipe).merged.resolve()}/, {len(chats)} distinct chats, "
          f"{args.max_tokens} output tokens per request, concurrency {args.levels}, "
          f"{args.rounds} rounds of {', '.join(args.engine_list)}"
          f"{' (make-serve also via its gateway)' if args.with_gateway else ''}, one engine at a time, "
          f"clients in the caller's session and in their own\n   CPU: {flags}")
    rounds = [r for n in range(args.rounds) for engine in args.engine_list
              for r in one_round(engine, args, chats, out, n + 1)]
    summary = summarise(rounds, args.levels)
    print_summary(summary)
    short = sum(row["short_replies"] for r in rounds for row in r["levels"])
    if short:
        print(f"   warning: {short} replies had fewer than {args.max_tokens} tokens; tok/s still counts real tokens")
    result = {"recipe": recipe.name, "model": str(RunLayout.of(recipe).merged.resolve()), "max_tokens": args.max_tokens,
              "distinct_prompts": len(chats), "device": "gpu" if has_nvidia_gpu() else "cpu", "cpu": flags,
              "cpu_count": os.cpu_count(), "rounds": rounds, "summary": summary}
    (out / "serving.json").write_text(json.dumps(result, indent=2))
    print(f"\n   written {out}/serving.json")
    return 0


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
