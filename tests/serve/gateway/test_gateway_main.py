"""`python -m serve.gateway RECIPE` as a real process in front of the test upstream."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx

from tests.conftest import ROOT
from tests.serve.gateway.conftest import UPSTREAM_KEY


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(tmp_path, port: int, upstream_url: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MEDKIT_UPSTREAM_URL": upstream_url, "MEDKIT_API_KEY": UPSTREAM_KEY}
    return subprocess.Popen([sys.executable, "-m", "serve.gateway", "recipes/quickstart.yaml",
                             f"run_dir={tmp_path}/run", f"rag.gateway.port={port}"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_cli_serves_without_an_index(tmp_path, upstream):
    port = free_port()
    proc = launch(tmp_path, port, upstream.url)
    try:
        deadline = time.time() + 30
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.time() < deadline, "gateway did not come up"
            time.sleep(0.1)
        auth = {"Authorization": f"Bearer {UPSTREAM_KEY}"}
        models = httpx.get(f"http://127.0.0.1:{port}/v1/models", headers=auth).json()
        assert [m["id"] for m in models["data"]] == ["base", "med-lora"]  # no index: no -rag variants
        assert httpx.get(f"http://127.0.0.1:{port}/v1/models").status_code == 401
    finally:
        proc.terminate()
        output = proc.communicate(timeout=10)[0]
    assert "no index at" in output and "retrieval: off" in output
    assert (tmp_path / "run" / "recipe.resolved.yaml").exists()


def test_cli_port_in_use_is_a_clear_error(tmp_path, upstream):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        proc = launch(tmp_path, port, upstream.url)
        output = proc.communicate(timeout=60)[0]
    assert proc.returncode != 0 and f"port {port} on 127.0.0.1 is already in use" in output
