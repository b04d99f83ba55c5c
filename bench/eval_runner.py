"""Benchmark of the evaluation runner: N items at concurrency 16 vs 1 against vLLM (CPU) on the tiny model.

vLLM serves the run's merged model (falling back to the base + LoRA when there is no
merge) on a free port, started and stopped here as bench/serving.py does. The items
are the run's evaluation items (<run_dir>/data/eval/*.jsonl), cycled to --items with
distinct ids; every level gets a fresh, empty cache, so every request is really sent.
Greedy decoding: the same items give the same answers, hence the same work, at each level.
One unmeasured round at the highest concurrency warms vLLM up first.

Per level: wall time, items/s, and the runner's own cost per item, three ways:
  own      time the runner spends in its own code (keys, cache reads and appends,
           records, progress), timed around those sections (Runner.stats["own_s"])
  outside  wall time minus the time spent awaiting HTTP (concurrency 1 only: with
           requests in flight together the awaits overlap and the difference means nothing)
  cpu      process CPU time per item: the runner plus the openai client's request
           building and response parsing (an upper bound of the client side's cost)
The ratio is items/s at the highest level over items/s at concurrency 1.

Then, with vLLM stopped, the seeds' way on the same model and the first --baseline-items
requests (same order, same max tokens, greedy, stopping at EOS): transformers in-process,
one item at a time (bench/hf_eval.py, train env; model loading not timed). Printed: its
items/s and tokens/s, and the runner at the highest level over it (target >= 10x at 16).
Results: <run_dir>/bench/eval_runner.json, the vLLM log beside it.

Run as:
    python -m bench.eval_runner recipes/quickstart.yaml [--items 1000] [--concurrency 1,16] [--max-tokens 32]
                                                        [--baseline-items 64]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from core.endpoints import api_key
from core.errors import StageFailed
from core.layout import RunLayout
from core.layout import base_model_path
from core.stage import command_status, recipe_from_argv
from envs import bin_of
from evaluation.items import load
from evaluation.runner import Request, Runner, Target
from evaluation.suites import messages
from serve import process
from serve.servers import vllm_server


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.eval_runner", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe")
    parser.add_argument("overrides", nargs="*", help="recipe overrides, key.sub=value")
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--concurrency", default="1,16", help="comma-separated levels")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--baseline-items", type=int, default=64, help="items for the transformers loop (0: skip)")
    args = parser.parse_intermixed_args(argv)
    args.levels = sorted({int(c) for c in args.concurrency.split(",") if c.strip()})
    if not args.levels or min(args.levels) < 1 or args.items < 1 or args.max_tokens < 1 or args.baseline_items < 0:
        parser.error("--items, --max-tokens and the --concurrency levels must be >= 1, --baseline-items >= 0")
    return args


def requests_for(items: list[dict], n: int, tag: str) -> list[Request]:
    out = []
    for k in range(n):
        item = items[k % len(items)]
        out.append(Request(f"{item['id']}#{tag}{k}", "full", messages(item, item.get("system"))))
    return out


def measure(target: Target, items: list[dict], n: int, concurrency: int, max_tokens: int, tag: str) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        runner = Runner(Path(cache), concurrency=concurrency, max_tokens=max_tokens, progress=False,
                        timeout_s=600, retries=1)
        requests = requests_for(items, n, tag)
        cpu0, t0 = time.process_time(), time.perf_counter()
        outcome = runner.run(target, requests)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    if outcome.down or outcome.failures:
        raise StageFailed(f"{outcome.down or outcome.failures[0]['error']}")
    tokens = sum(r.get("completion_tokens") or 0 for r in outcome.responses.values())
    stats = runner.stats
    return {"concurrency": concurrency, "items": n, "wall_s": round(wall, 2), "items_per_s": round(n / wall, 2),
            "completion_tokens": tokens, "tokens_per_s": round(tokens / wall, 1),
            "own_ms_per_item": round(stats["own_s"] / n * 1000, 3),
            "outside_http_ms_per_item": round((wall - stats["http_s"]) / n * 1000, 3) if concurrency == 1 else None,
            "cpu_ms_per_item": round(cpu / n * 1000, 3)}


def transformers_baseline(recipe, mode: str, requests: list[Request], max_tokens: int, out: Path) -> dict:
    """The seeds' loop (bench/hf_eval.py) over `requests` on the model vLLM served."""
    merged = mode == "merged"
    layout = RunLayout.of(recipe)
    job = {"model_dir": str((layout.merged if merged else Path(base_model_path(recipe))).resolve()),
           "adapter": None if merged else str(layout.trained.resolve()),
           "max_tokens": max_tokens, "chats": [r.messages for r in requests]}
    req_file, res_file = out / "hf_eval_request.json", out / "hf_eval_result.json"
    req_file.write_text(json.dumps(job, ensure_ascii=False), encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))}
    with (out / "eval_runner-hf.log").open("w") as log:
        code = subprocess.call([bin_of("train"), "-m", "bench.hf_eval", str(req_file), str(res_file)],
                               stdout=log, stderr=subprocess.STDOUT, env=env)
    if code:
        raise StageFailed(f"the transformers baseline failed (exit {code}); see {out}/eval_runner-hf.log")
    res = json.loads(res_file.read_text())
    return {"items": res["items"], "wall_s": res["wall_s"], "items_per_s": round(res["items"] / res["wall_s"], 2),
            "completion_tokens": res["completion_tokens"],
            "tokens_per_s": round(res["completion_tokens"] / res["wall_s"], 1)}


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    recipe = recipe_from_argv([args.recipe, *args.overrides])
    layout = RunLayout.of(recipe)
    out = layout.bench
    out.mkdir(parents=True, exist_ok=True)
    items, _ = load(sorted(layout.eval_sets.glob("*.jsonl")))
    if not items:
        raise StageFailed(f"no evaluation items in {layout.eval_sets}/; run `make data` first")
    mode = "merged" if layout.has_merged else "lora"
    port = process.free_port()
    spec = replace(vllm_server(recipe, mode=mode, port=port, server="bench-eval-vllm", name="vLLM bench (eval runner)"),
                   log=out / "eval_runner-vllm.log")
    model = spec.models[-1]  # merged: the merge; lora: the adapter
    pid_file = spec.pid_file
    print(f"== bench eval runner: '{recipe.name}', vLLM ({mode}) model '{model}', {args.items} items "
          f"({len(items)} distinct), {args.max_tokens} max tokens, concurrency {args.levels}, cpus {os.cpu_count()}")
    rows = []
    try:
        print(f"   starting vLLM on port {port}, log {out}/eval_runner-vllm.log", flush=True)
        record = process.start(spec)
        target = Target("bench", model, record.url, api_key(recipe))
        measure(target, items, 2 * max(args.levels), max(args.levels), args.max_tokens, "warm")
        for level in sorted(args.levels, reverse=True):
            print(f"   concurrency {level:3d}: {args.items} items ...", flush=True)
            rows.append(measure(target, items, args.items, level, args.max_tokens, f"c{level}"))
    finally:
        stopped = process.stop(pid_file)
        if stopped:
            print(f"   stopped {stopped}")
    rows.sort(key=lambda r: r["concurrency"])
    print(f"\n   {'concurrency':>11s} | {'wall s':>7s} | {'items/s':>7s} | {'tokens/s':>8s} | {'own ms/item':>11s} | "
          f"{'outside-HTTP ms/item':>20s} | {'CPU ms/item':>11s}")
    for r in rows:
        outside = f"{r['outside_http_ms_per_item']:20.3f}" if r["outside_http_ms_per_item"] is not None else f"{'—':>20s}"
        print(f"   {r['concurrency']:11d} | {r['wall_s']:7.1f} | {r['items_per_s']:7.2f} | {r['tokens_per_s']:8.1f} | "
              f"{r['own_ms_per_item']:11.3f} | {outside} | {r['cpu_ms_per_item']:11.3f}")
    ratio = rows[-1]["items_per_s"] / rows[0]["items_per_s"]
    print(f"\n   concurrency {rows[-1]['concurrency']} vs {rows[0]['concurrency']}: {ratio:.2f}x items/s")
    baseline, vs_baseline = None, None
    if args.baseline_items:
        print(f"   transformers in-process, one item at a time: {args.baseline_items} items ...", flush=True)
        baseline = transformers_baseline(recipe, mode, requests_for(items, args.baseline_items, "hf"),
                                         args.max_tokens, out)
        vs_baseline = round(rows[-1]["items_per_s"] / baseline["items_per_s"], 2)
        print(f"   transformers loop: {baseline['items_per_s']:.2f} items/s, {baseline['tokens_per_s']:.1f} tokens/s; "
              f"the runner at concurrency {rows[-1]['concurrency']}: {vs_baseline:.2f}x items/s "
              f"({rows[-1]['tokens_per_s'] / baseline['tokens_per_s']:.2f}x tokens/s; target 10x)")
    result = {"recipe": recipe.name, "mode": mode, "model": model, "items": args.items, "distinct_items": len(items),
              "max_tokens": args.max_tokens, "cpu_count": os.cpu_count(), "levels": rows, "ratio": round(ratio, 2),
              "transformers": baseline, "runner_vs_transformers": vs_baseline}
    (out / "eval_runner.json").write_text(json.dumps(result, indent=2))
    print(f"   written {out}/eval_runner.json")
    return 0


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
