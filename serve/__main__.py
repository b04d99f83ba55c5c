"""`make serve` / `make stop` / `make status`: vLLM's OpenAI server in the background.

Run as:
    python -m serve start  recipes/quickstart.yaml [serve.mode=merged serve.port=8001 ...]
    python -m serve stop   recipes/quickstart.yaml
    python -m serve status [RUNS_ROOT ...]
Each mode has its own pid file (<run_dir>/serve/vllm-<mode>.json), so the LoRA-mounted
and merged servers can run side by side on different ports. With a `rag` section the
RAG gateway starts too (<run_dir>/serve/gateway.json), in front of the first server started.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from envs import bin_of
from recipes.load import load_or_exit, run_dir, start_run
from recipes.schema import Recipe
from serve import process
from serve.vllm_cmd import api_key, pid_file, plan
from train.base_model import ensure_base_model


def start_gateway(recipe: Recipe, argv: list[str], upstream_models: list[str]) -> dict:
    """The RAG gateway in front of the vLLM server just started (same recipe and overrides)."""
    gw = recipe.rag.gateway
    host = "127.0.0.1" if gw.host in ("0.0.0.0", "::") else gw.host
    url = f"http://{host}:{gw.port}/v1"
    print(f"== serve: RAG gateway on {gw.host}:{gw.port}, log {run_dir(recipe)}/logs/gateway.log")
    return process.start(
        "RAG gateway", [bin_of("app"), "-m", "serve.gateway", *argv], {"PYTHONPATH": os.getcwd()},
        gw.host, gw.port, url, upstream_models, run_dir(recipe) / "serve" / "gateway.json",
        run_dir(recipe) / "logs" / "gateway.log", gw.startup_timeout_s, api_key(recipe))


def start(argv: list[str]) -> int:
    recipe = load_or_exit(argv)
    out = start_run(recipe, "serve")
    mode = recipe.serve.mode
    ensure_base_model(recipe)
    launch = plan(recipe)
    print(f"== serve: vLLM ({mode}) on {recipe.serve.host}:{recipe.serve.port}, log {out}/logs/vllm-{mode}.log")
    record = process.start(
        f"vLLM ({mode})", launch.argv, launch.env, recipe.serve.host, recipe.serve.port, launch.url,
        launch.models, pid_file(recipe, mode), out / "logs" / f"vllm-{mode}.log",
        recipe.serve.startup_timeout_s, api_key(recipe),
        extra={"mode": mode, "max_lora_rank": launch.max_lora_rank})
    key_note = f" (Bearer key from ${recipe.serve.api_key_env})" if api_key(recipe) else ""
    print(f"   ready after {record.get('ready_after_s', 0)} s, pid {record['pid']}")
    print(f"   base URL  {record['url']}{key_note}")
    print(f"   models    {', '.join(record['models'])}")
    if recipe.rag is not None:
        gateway = start_gateway(recipe, argv, record["models"])
        listed = process.models_answer(gateway["url"], api_key(recipe)) or []
        rag_models = [m for m in listed if m.endswith(recipe.rag.gateway.model_suffix)]
        print(f"   gateway   {gateway['url']}  models {', '.join(listed)}")
        if not rag_models:
            print(f"   note: no retrieval-augmented models: the index is missing; run `make index RECIPE={argv[0]}` "
                  f"and restart the gateway (`make stop`, `make serve`)")
    print(f"   stop with `make stop RECIPE={argv[0]}`")
    return 0


def stop(argv: list[str]) -> int:
    recipe = load_or_exit(argv)
    folder = run_dir(recipe) / "serve"
    stopped = [process.stop(f) for f in sorted(folder.glob("*.json"))] if folder.exists() else []
    stopped = [s for s in stopped if s]
    print("== stop: " + (", ".join(stopped) if stopped else f"nothing running for '{recipe.name}'"))
    return 0


def status(argv: list[str]) -> int:
    roots = [Path(a) for a in argv] or [Path("runs")]
    rows = [r for root in roots for r in process.records(root)]
    if not rows:
        print("nothing running (searched " + ", ".join(f"{r}/*/serve" for r in roots) + ")")
        return 0
    print(f"{'server':22s} {'pid':>7s} {'port':>6s} {'up':>8s}  url / models")
    for path, rec in rows:
        up = f"{(time.time() - rec['started']) / 60:.1f} min"
        if not rec["leader_alive"]:  # workers of a server whose leader was killed: memory held, nothing served
            print(f"{rec['name']:22s} {rec['pid']:7d} {rec['port']:6d} {up:>8s}  LEADER GONE: "
                  f"{len(rec['pids'])} processes left ({', '.join(map(str, rec['pids']))}), "
                  f"{rec['rss'] / 2**30:.1f} GiB resident; `make stop` ends them  ({path})")
            continue
        print(f"{rec['name']:22s} {rec['pid']:7d} {rec['port']:6d} {up:>8s}  {rec['url']}  "
              f"[{', '.join(rec['models'])}]  {len(rec['pids'])} processes, {rec['rss'] / 2**30:.1f} GiB  ({path})")
    return 0


def main(argv: list[str]) -> int:
    commands = {"start": start, "stop": stop, "status": status}
    if not argv or argv[0] not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
