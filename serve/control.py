"""`make serve` / `make stop` / `make status` as functions: vLLM's OpenAI server in the background,
and the RAG gateway in front of it when the recipe has a `rag` section.

Each mode has its own pid file (<run_dir>/serve/vllm-<mode>.json), so the LoRA-mounted
and merged servers can run side by side on different ports. The gateway's is
<run_dir>/serve/gateway.json.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from core.endpoints import api_key, is_rag_model, models_answer
from core.layout import RUNS_ROOT, RunLayout
from core.recipe.schema import DataParallelNodes, Recipe
from core.server_record import ServerRecord
from core.stage import begin
from serve import process
from serve.process import ServerSpec
from serve.servers import ensure_chroma, gateway_server, vllm_server
from train.base_model import ensure_base_model


@dataclass
class Served:
    vllm: ServerRecord
    gateway: Optional[ServerRecord] = None


def start(recipe: Recipe) -> Served:
    layout = begin(recipe, "serve")
    mode = recipe.serve.mode
    ensure_base_model(recipe)
    spec = vllm_server(recipe)
    nodes = recipe.serve.data_parallel_nodes
    if nodes is not None and nodes.headless:
        return start_headless(spec, nodes)
    print(f"== serve: vLLM ({mode}) on {recipe.serve.host}:{recipe.serve.port}, log {spec.log}")
    record = process.start(spec)
    key = api_key(recipe)
    key_note = f" (Bearer key from ${recipe.serve.api_key_env})" if key else ""
    print(f"   ready after {record.ready_after_s or 0} s, pid {record.pid}")
    print(f"   base URL  {record.url}{key_note}")
    print(f"   models    {', '.join(record.models)}")
    if record.autogroup_nice:
        print(f"   scheduler its session's autogroup at nice {record.autogroup_nice}: clients in any session "
              f"get a core at once (serve.cpu_autogroup_nice)")
    served = Served(record)
    if recipe.rag is not None:
        ensure_chroma(recipe)
        gw_spec = gateway_server(recipe, record.models)
        print(f"== serve: RAG gateway on {gw_spec.plan.host}:{gw_spec.plan.port}, log {gw_spec.log}")
        served.gateway = process.start(gw_spec)
        listed = models_answer(served.gateway.url, key) or []
        print(f"   gateway   {served.gateway.url}  models {', '.join(listed)}")
        if not any(is_rag_model(m, recipe.rag.gateway.model_suffix) for m in listed):
            print(f"   note: no retrieval-augmented models: the index is missing; run `make index` for this "
                  f"recipe and restart the gateway (`make stop`, `make serve`)")
    print(f"   stop with `make stop` (same RECIPE and ARGS); run directory {layout.root}/")
    return served


def start_headless(spec: ServerSpec, nodes: DataParallelNodes) -> Served:
    """A data-parallel node after node 0: its replicas join node 0's API server (and the gateway in front of it,
    if any, runs there); ready once that API lists the models, i.e. every node's replicas have joined."""
    last = nodes.start_rank + nodes.size_local - 1
    print(f"== serve: vLLM replicas {nodes.start_rank}-{last}, headless, joining node 0 at {nodes.address}:"
          f"{nodes.rpc_port}, log {spec.log}")
    record = process.start(spec)
    print(f"   ready after {record.ready_after_s or 0} s, pid {record.pid}: served through {record.url}")
    print("   stop with `make stop` (same RECIPE and ARGS)")
    return Served(record)


def stop(recipe: Recipe) -> list[str]:
    """Stop every server started for this recipe's run directory; what was stopped."""
    with ThreadPoolExecutor() as pool:  # side by side: each waits for its server's clean shutdown
        stopped = [s for s in pool.map(process.stop, RunLayout.of(recipe).pid_files()) if s]
    print("== stop: " + (", ".join(stopped) if stopped else f"nothing running for '{recipe.name}'"))
    return stopped


def status(roots: list[Path] = ()) -> list[tuple[Path, ServerRecord]]:
    roots = list(roots) or [RUNS_ROOT]
    rows = [r for root in roots for r in process.records(root)]
    if not rows:
        print("nothing running (searched " + ", ".join(f"{r}/*/{RunLayout(Path()).servers.name}" for r in roots) + ")")
        return rows
    print(f"{'server':22s} {'pid':>7s} {'port':>6s} {'up':>8s}  url / models")
    for path, rec in rows:
        up = f"{(time.time() - rec.started) / 60:.1f} min"
        if not rec.leader_alive:  # workers of a server whose leader was killed: memory held, nothing served
            print(f"{rec.name:22s} {rec.pid:7d} {rec.port:6d} {up:>8s}  LEADER GONE: "
                  f"{len(rec.pids)} processes left ({', '.join(map(str, rec.pids))}), "
                  f"{rec.rss / 2**30:.1f} GiB resident; `make stop` ends them  ({path})")
            continue
        print(f"{rec.name:22s} {rec.pid:7d} {rec.port:6d} {up:>8s}  {rec.url}  "
              f"[{', '.join(rec.models)}]  {len(rec.pids)} processes, {rec.rss / 2**30:.1f} GiB  ({path})")
    return rows
