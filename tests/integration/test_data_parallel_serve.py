"""serve.data_parallel_size on CPU: vLLM's own data parallelism (--data-parallel-size 2: two engine
replicas behind one API server, its DP coordinator between them), the adapter mounted on every replica.
Both replicas take requests under load (vLLM's /metrics, per engine), `make status` and `make stop` see
every process, and a replica killed with SIGKILL leaves nothing behind once stopped."""
from __future__ import annotations

import os
import re
import shutil
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from serve import process
from serve.process import free_port
from tests.conftest import run_module
from tests.pipeline import KEY, RECIPE


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
        url = record["url"]
        with httpx.Client(timeout=120, headers={"Authorization": f"Bearer {KEY}"}) as client:
            def ask(n: int) -> str:
                reply = client.post(f"{url}/chat/completions", json={
                    "model": "med-lora", "max_tokens": 8, "temperature": 0,
                    "messages": [{"role": "user", "content": f"头痛第{n}天怎么办？"}]})
                reply.raise_for_status()
                return reply.json()["choices"][0]["message"]["content"]
            with ThreadPoolExecutor(16) as pool:
                assert all(pool.map(ask, range(32)))
        per_engine = served_per_engine(url)
        assert sorted(per_engine) == ["0", "1"] and all(n > 0 for n in per_engine.values()), per_engine
        assert sum(per_engine.values()) == 32
        status = run_module("serve", "status", str(tmp_path))
        assert f"[base, med-lora]  {len(record['pids'])} processes" in status.stdout, status.stdout
        replica = [p for p in record["pids"] if "EngineCore_DP1" in title(p) or "EngineCore_DP1" in
                   Path(f"/proc/{p}/comm").read_text(errors="ignore")]
        assert replica, [title(p) for p in record["pids"]]
        os.kill(replica[0], signal.SIGKILL)
        time.sleep(2)
    finally:
        stopped = run_module("serve", "stop", *args)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    left = [p for p in record["pids"] if Path(f"/proc/{p}").exists() and "vllm" in title(p).lower()]
    assert not left, [title(p) for p in left]
    assert process.server_pids(record) == [] and not (run_dir / "serve" / "vllm-lora.json").exists()
