"""Launch plans and server specs: what `make serve`, parity and the benchmarks start.

vLLM's plan comes from the recipe (serve/vllm_cmd.py). The gateway's plan runs
`python -m serve.gateway <recipe file>` in the app environment, with the resolved
recipe written beside its pid file, so the gateway serves exactly the recipe (and
overrides) it was started from. Chroma's (rag.chroma.mode: server) runs `chroma run` on the run's
index folder and is waited for on its heartbeat. A spec adds where the server keeps its pid file and
log and how long it may take to come up (serve/process.py starts it).
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Optional

from core.endpoints import api_key, gateway, gateway_url
from core.layout import RunLayout
from core.recipe.load import resolved_yaml
from core.recipe.schema import Recipe
from envs import bin_of
from serve import process
from serve.process import LaunchPlan, ServerSpec
from serve.rag.store import chroma_path
from serve.vllm_cmd import plan


def vllm_server(recipe: Recipe, mode: Optional[str] = None, port: Optional[int] = None,
                server: Optional[str] = None, name: Optional[str] = None) -> ServerSpec:
    """vLLM for `mode` (default serve.mode) on `port` (default serve.port); `server` names its pid file
    and log (default vllm-<mode>)."""
    mode = mode or recipe.serve.mode
    launch = plan(recipe, mode=mode, port=port)
    layout, server = RunLayout.of(recipe), server or f"vllm-{mode}"
    nodes = recipe.serve.data_parallel_nodes
    if launch.headless:  # binds no port; ready once node 0's API lists the models (its replicas joined)
        server, name = f"{server}-rank{nodes.start_rank}", name or f"vLLM ({mode}, headless)"
    return ServerSpec(name=name or f"vLLM ({mode})", plan=replace(launch, port=0) if launch.headless else launch,
                      pid_file=layout.pid_file(server), log=layout.log(server),
                      timeout_s=recipe.serve.startup_timeout_s, api_key=api_key(recipe), mode=mode)


def gateway_plan(recipe: Recipe, recipe_file: Path) -> LaunchPlan:
    gw = gateway(recipe)
    return LaunchPlan(argv=[bin_of("app"), "-m", "serve.gateway", str(recipe_file)],
                      env={"PYTHONPATH": os.getcwd()}, models=[], url=gateway_url(recipe), host=gw.host, port=gw.port)


def gateway_server(recipe: Recipe, upstream_models: list[str], server: str = "gateway",
                   name: str = "RAG gateway") -> ServerSpec:
    """The RAG gateway in front of vLLM; ready once it lists `upstream_models`. Writes its recipe file."""
    layout = RunLayout.of(recipe)
    recipe_file = layout.server_recipe(server)
    recipe_file.parent.mkdir(parents=True, exist_ok=True)
    recipe_file.write_text(resolved_yaml(recipe), encoding="utf-8")
    launch = gateway_plan(recipe, recipe_file)
    return ServerSpec(name=name, plan=replace(launch, models=upstream_models), pid_file=layout.pid_file(server),
                      log=layout.log(server), timeout_s=gateway(recipe).startup_timeout_s, api_key=api_key(recipe))


def chroma_server(recipe: Recipe) -> ServerSpec:
    """`chroma run` for rag.chroma in server mode, its data in rag.chroma.path (default <run_dir>/index/chroma)."""
    layout, chroma = RunLayout.of(recipe), recipe.rag.chroma
    data = chroma_path(chroma, layout.index).resolve()
    url = f"http://{chroma.host}:{chroma.port}"
    argv = [bin_of("app", "chroma"), "run", "--path", str(data), "--host", chroma.host, "--port", str(chroma.port)]
    return ServerSpec(name="Chroma", plan=LaunchPlan(argv=argv, env={}, models=[], url=url, host=chroma.host,
                                                     port=chroma.port),
                      pid_file=layout.pid_file("chroma"), log=layout.log("chroma"), timeout_s=120, marker=str(data),
                      health=f"{url}/api/v2/heartbeat")


def ensure_chroma(recipe: Recipe) -> None:
    """In server mode with rag.chroma.start, start the Chroma server unless one answers at host:port."""
    chroma = recipe.rag.chroma if recipe.rag else None
    if chroma is None or chroma.mode != "server" or not chroma.start:
        return
    spec = chroma_server(recipe)
    if process.answers(spec.health):
        return
    print(f"== Chroma server on {chroma.host}:{chroma.port}, data {spec.marker}, log {spec.log}")
    record = process.start(spec)
    print(f"   ready after {record.ready_after_s or 0} s, pid {record.pid}")
