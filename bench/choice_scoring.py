"""Choice items by log-likelihood vs by generation: items per second side by side, in one run.

Starts vLLM on the run's merged model (the recipe's settings, a free port) and takes the run's
choice and yes/no/maybe evaluation items (<run_dir>/data/eval/*.jsonl) that log-likelihood scoring
can score (one answer letter), cycled to --items with distinct ids. Then --rounds alternating rounds of:
  generation     the eval runner (evaluation/runner.py) as `make eval` sends them: eval.concurrency,
                 eval.max_tokens, greedy, a fresh cache (every request really sent)
  loglikelihood  evaluation/loglikelihood.py as eval.choice_scoring sends them: one next-token request
                 per item when every option is one token, the same concurrency, no cache
after one unmeasured warm-up of each. vLLM's prefix cache is off (--no-enable-prefix-caching), so a
round never reads what an earlier one computed: each item costs what it costs the first time.
Printed: the CPU's flags, every round's items/s, the means and the ratio loglikelihood/generation
(target >= 10). Results: <run_dir>/bench/choice_scoring.json.

Run as:
    python -m bench.choice_scoring recipes/smollm2-135m_cpu_lora.yaml [--items 96] [--rounds 2] [key=value ...]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import replace

from bench.eval_runner import measure
from core import cpu
from core.endpoints import api_key
from core.errors import StageFailed
from core.layout import RunLayout
from core.stage import command_status, recipe_from_argv
from evaluation.items import load
from evaluation.loglikelihood import doc, score_target
from evaluation.runner import Target
from evaluation.suites import CHOICE_KINDS
from serve import process
from serve.servers import vllm_server

TARGET = 10.0  # loglikelihood items/s over generation items/s


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.choice_scoring", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe")
    parser.add_argument("overrides", nargs="*", help="recipe overrides, key.sub=value")
    parser.add_argument("--items", type=int, default=96, help="items per round (the eval's items, cycled)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_intermixed_args(argv)
    if args.items < 1 or args.rounds < 1:
        parser.error("--items and --rounds must be >= 1")
    return args


def cycled(items: list[dict], n: int, tag: str) -> list[dict]:
    return [{**items[k % len(items)], "id": f"{items[k % len(items)]['id']}#{tag}{k}"} for k in range(n)]


def loglikelihood_round(target: Target, items: list[dict], concurrency: int) -> dict:
    rows, _, timing = score_target(target.base_url, target.model, items, target.api_key, 600, concurrency)
    return {"items": len(rows), "wall_s": round(timing["seconds"], 2),
            "items_per_s": round(len(rows) / timing["seconds"], 2)}


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    recipe = recipe_from_argv([args.recipe, *args.overrides])
    layout = RunLayout.of(recipe)
    every, _ = load(sorted(layout.eval_sets.glob("*.jsonl")))
    items = [i for i in every if i["kind"] in CHOICE_KINDS and doc(i) is not None]
    if not items:
        raise StageFailed(f"no single-answer choice or yes/no/maybe items in {layout.eval_sets}/; "
                          f"run `make data` with a source that has them")
    spec = vllm_server(recipe, mode="merged", port=process.free_port(), server="bench-choice-vllm",
                       name="vLLM bench (choice scoring)")
    # no prefix cache: every round computes every prompt afresh, as an eval asks each item once (with it,
    # a later round of the same items would only read the cache)
    spec = replace(spec, plan=replace(spec.plan, argv=[*spec.plan.argv, "--no-enable-prefix-caching"]),
                   log=layout.bench / "choice_scoring-vllm.log")
    layout.bench.mkdir(parents=True, exist_ok=True)
    ev = recipe.eval
    print(f"== bench choice scoring: '{recipe.name}', merged model, {args.items} items per round ({len(items)} "
          f"distinct), concurrency {ev.concurrency}, generation up to {ev.max_tokens} tokens, {args.rounds} rounds\n"
          f"   CPU: {cpu.describe()}")
    rounds = []
    try:
        record = process.start(spec)
        target = Target("bench", spec.models[0], record.url, api_key(recipe))
        measure(target, cycled(items, ev.concurrency, "wg"), ev.concurrency, ev.concurrency, ev.max_tokens, "warm")
        loglikelihood_round(target, cycled(items, ev.concurrency, "wl"), ev.concurrency)
        for n in range(1, args.rounds + 1):
            for way in ("generation", "loglikelihood") if n % 2 else ("loglikelihood", "generation"):
                batch = cycled(items, args.items, f"r{n}")
                row = (measure(target, batch, args.items, ev.concurrency, ev.max_tokens, f"r{n}")
                       if way == "generation" else loglikelihood_round(target, batch, ev.concurrency))
                rounds.append({"round": n, "way": way, **row})
                print(f"   round {n}  {way:13s} {row['items']:4d} items  {row['wall_s']:7.1f} s  "
                      f"{row['items_per_s']:7.2f} items/s", flush=True)
    finally:
        process.stop(spec.pid_file)
    means = {way: round(statistics.fmean(r["items_per_s"] for r in rounds if r["way"] == way), 2)
             for way in ("generation", "loglikelihood")}
    ratio = round(means["loglikelihood"] / means["generation"], 2)
    print(f"\n   generation {means['generation']:.2f} items/s, loglikelihood {means['loglikelihood']:.2f} items/s: "
          f"{ratio:.2f}x (target {TARGET:g}: {'ok' if ratio >= TARGET else 'MISSED'})")
    result = {"recipe": recipe.name, "cpu": cpu.describe(), "items": args.items, "distinct_items": len(items),
              "concurrency": ev.concurrency, "max_tokens": ev.max_tokens, "rounds": rounds, "means": means,
              "ratio": ratio}
    (layout.bench / "choice_scoring.json").write_text(json.dumps(result, indent=2))
    print(f"   written {layout.bench}/choice_scoring.json")
    return 0


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
