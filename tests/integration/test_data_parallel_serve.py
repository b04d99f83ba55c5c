"""serve.data_parallel_size on CPU: vLLM's own data parallelism (--data-parallel-size 2: two engine
replicas behind one API server, its DP coordinator between them), the adapter mounted on every replica.
Both replicas take requests under load (vLLM's /metrics, per engine), `make status` and `make stop` see
every process, and a replica killed with SIGKILL leaves nothing behind once stopped.

The same over two "nodes" on 127.0.0.1 (serve.data_parallel_nodes): node 0's `make serve` starts the API
server with one replica, the Chroma server and the RAG gateway, node 1's starts one replica headless
that joins it; requests through the gateway reach both, `make parity` checks each replica."""
from __future__ import annotations

import os
import re
import shutil
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import httpx

from serve import process
from serve.process import free_port
from tests.conftest import run_module
from tests.pipeline import KEY, RECIPE


def ask_many(url: str, model: str, n: int) -> None:
    """`n` chats, 16 at a time, each a reply."""
    with httpx.Client(timeout=120, headers={"Authorization": f"Bearer {KEY}"}) as client:
        def ask(i: int) -> str:
            reply = client.post(f"{url}/chat/completions", json={
                "model": model, "max_tokens": 8, "temperature": 0,
                "messages": [{"role": "user", "content": f"头痛第{i}天怎么办？"}]})
            reply.raise_for_status()
            return reply.json()["choices"][0]["message"]["content"]
        with ThreadPoolExecutor(16) as pool:
            assert all(pool.map(ask, range(n)))


def served_per_engine(url: str) -> dict[str, float]:
    """{engine index: requests finished} from vLLM's Prometheus metrics."""
    text = httpx.get(url.removesuffix("/v1") + "/metrics", headers={"Authorization": f"Bearer {KEY}"}).text
    found: dict[str, float] = {}
    for engine, value in re.findall(r'^vllm:request_success_total\{engine="(\d+)"[^}]*\} (\S+)$', text, re.M):
        found[engine] = found.get(engine, 0.0) + float(value)
    return found


def title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def engine_core(record: dict, rank: int) -> Optional[int]:
    """The pid of vLLM's engine core process for replica `rank` among the server's processes."""
    name = f"EngineCore_DP{rank}"
    found = [p for p in record.pids if name in title(p) or name in Path(f"/proc/{p}/comm").read_text(errors="ignore")]
    assert found, [title(p) for p in record.pids]
    return found[0]


def test_two_replicas_share_the_load_and_stop_with_the_server(pipeline, tmp_path):
    run_dir = tmp_path / "dp"
    for part in ("tiny-model", "adapter"):  # the pipeline's model and adapter, in a run directory of its own
        shutil.copytree(pipeline.dir / part, run_dir / part)
    port = free_port()
    args = [RECIPE, f"run_dir={run_dir}", f"serve.port={port}", "rag=null", "serve.data_parallel_size=2",
            "serve.cpu_threads_bind=nobind"]
    started = run_module("serve", "start", *args, env=pipeline.env)
    assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-3000:]
    record = process.read_record(run_dir / "serve" / "vllm-lora.json")
    try:
        url = record.url
        ask_many(url, "med-lora", 32)
        per_engine = served_per_engine(url)
        assert sorted(per_engine) == ["0", "1"] and all(n > 0 for n in per_engine.values()), per_engine
        assert sum(per_engine.values()) == 32
        status = run_module("serve", "status", str(tmp_path))
        assert f"[base, med-lora]  {len(record.pids)} processes" in status.stdout, status.stdout
        os.kill(engine_core(record, 1), signal.SIGKILL)
        time.sleep(2)
    finally:
        stopped = run_module("serve", "stop", *args)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    left = [p for p in record.pids if Path(f"/proc/{p}").exists() and "vllm" in title(p).lower()]
    assert not left, [title(p) for p in left]
    assert process.server_pids(record) == [] and not (run_dir / "serve" / "vllm-lora.json").exists()


def test_two_nodes_serve_behind_one_gateway_and_each_replica_passes_parity(pipeline, tmp_path):
    run_dir = tmp_path / "nodes"
    for part in ("tiny-model", "adapter", "data", "index"):  # the pipeline's model, adapter and index
        shutil.copytree(pipeline.dir / part, run_dir / part)
    port, gateway_port, chroma_port, rpc_port = (free_port() for _ in range(4))
    args = [RECIPE, f"run_dir={run_dir}", f"serve.port={port}", f"rag.gateway.port={gateway_port}",
            "rag.chroma.mode=server", f"rag.chroma.port={chroma_port}", "serve.cpu_threads_bind=nobind",
            "serve.data_parallel_size=2", "serve.data_parallel_nodes.size_local=1",
            "serve.data_parallel_nodes.address=127.0.0.1", f"serve.data_parallel_nodes.rpc_port={rpc_port}"]
    node_1 = args + ["serve.data_parallel_nodes.start_rank=1"]
    with ThreadPoolExecutor(2) as pool:  # like two machines: each node's `make serve` waits for the other
        first, second = pool.map(lambda a: run_module("serve", "start", *a, env=pipeline.env), [args, node_1])
    try:
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
        assert f"Chroma server on 127.0.0.1:{chroma_port}" in first.stdout  # started by make serve
        assert f"replicas 1-1, headless, joining node 0 at 127.0.0.1:{rpc_port}" in second.stdout
        head = process.read_record(run_dir / "serve" / "vllm-lora.json")
        headless = process.read_record(run_dir / "serve" / "vllm-lora-rank1.json")
        assert headless.url == head.url and headless.port == 0
        ask_many(f"http://127.0.0.1:{gateway_port}/v1", "med-lora-rag", 16)  # retrieval, then vLLM
        per_engine = served_per_engine(head.url)
        assert sorted(per_engine) == ["0", "1"] and all(n > 0 for n in per_engine.values()), per_engine
        checked = run_module("serve.parity", *args, "parity.prompts=2", env=pipeline.env)
        assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-3000:]
        assert "lora 3/3" not in checked.stdout and "lora@1 " in checked.stdout, checked.stdout[-2000:]
        status = run_module("serve", "status", str(tmp_path))
        assert "vLLM (lora, headless)" in status.stdout and "Chroma" in status.stdout, status.stdout
        os.kill(engine_core(headless, 1), signal.SIGKILL)  # node 1's replica dies
        time.sleep(2)
    finally:
        stopped = run_module("serve", "stop", *args)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    for record in (head, headless):
        assert process.server_pids(record) == [], [title(p) for p in process.server_pids(record)]
    assert not list((run_dir / "serve").glob("*.json")), list((run_dir / "serve").glob("*.json"))
