"""rag.chroma.mode: server: `make index` (and `make serve`, serve/control.py) start `chroma run`, its data
in the run's index folder, when nothing answers on its port; two gateway processes against the same
Chroma server return the same records; `make stop` stops it, and a later start finds the collection on
disk (nothing embedded again). The gateways use the pipeline's running vLLM as their upstream."""
from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor

import httpx

from core.recipe.load import load_recipe
from serve import process
from serve.process import free_port
from serve.servers import gateway_server
from tests.conftest import ROOT, run_module
from tests.pipeline import KEY, RECIPE

QUERY = {"knowledge_id": "medkit", "query": "高血压", "retrieval_setting": {"top_k": 3, "score_threshold": 0.0}}


def retrieved(port: int) -> list[tuple[str, float]]:
    reply = httpx.post(f"http://127.0.0.1:{port}/retrieval", headers={"Authorization": f"Bearer {KEY}"},
                       json=QUERY, timeout=60)
    assert reply.status_code == 200, reply.text
    return [(r["content"], round(r["score"], 6)) for r in reply.json()["records"]]


def gateway(args: list[str], port: int, server: str) -> None:
    recipe = load_recipe(ROOT / RECIPE, [*args[1:], f"rag.gateway.port={port}"])
    process.start(gateway_server(recipe, ["base", "med-lora"], server=server, name=server))


def test_gateways_retrieve_through_a_chroma_server_the_toolkit_started(pipeline, tmp_path, monkeypatch):
    monkeypatch.setenv("MEDKIT_API_KEY", KEY)  # the gateways started from this process use it both ways
    pipeline.serve()  # their upstream: the pipeline's vLLM (LoRA-mounted)
    run_dir = tmp_path / "chroma"
    shutil.copytree(pipeline.dir / "data", run_dir / "data")  # the pipeline's corpus
    chroma_port, first_port, second_port = free_port(), free_port(), free_port()
    args = [RECIPE, f"run_dir={run_dir}", f"serve.port={pipeline.ports['lora']}", "rag.chroma.mode=server",
            f"rag.chroma.port={chroma_port}"]
    heartbeat = f"http://127.0.0.1:{chroma_port}/api/v2/heartbeat"
    indexed = run_module("serve.rag.index", *args)
    assert indexed.returncode == 0, indexed.stdout[-3000:] + indexed.stderr[-3000:]
    assert f"Chroma server on 127.0.0.1:{chroma_port}" in indexed.stdout and process.answers(heartbeat)
    assert (run_dir / "index" / "chroma" / "chroma.sqlite3").exists()
    try:
        with ThreadPoolExecutor(2) as pool:  # side by side: each loads its embedder
            list(pool.map(gateway, [args, args], [first_port, second_port], ["gateway-1", "gateway-2"]))
        first = retrieved(first_port)
        assert first and retrieved(second_port) == first
    finally:
        stopped = run_module("serve", "stop", *args)
    assert "Chroma" in stopped.stdout and not process.answers(heartbeat)
    try:  # started again from its data on disk: every chunk found there, nothing embedded again
        again = run_module("serve.rag.index", *args)
        assert again.returncode == 0 and f"Chroma server on 127.0.0.1:{chroma_port}" in again.stdout
        assert " new 0 " in again.stdout and " skipped 0 " not in again.stdout, again.stdout
    finally:
        run_module("serve", "stop", *args)
    assert not process.answers(heartbeat)
