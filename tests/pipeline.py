"""The one pipeline the integration, evaluation and browser tests share.

Built once per test session by `python -m scripts.quickstart --keep-serving` (the stage
sequence of `make quickstart`: data, train, export, index, vLLM LoRA-mounted and merged, the
RAG gateway, chat checks, eval, parity) in a temporary run directory on free ports, with an
API key. The servers are left running for the tests; a test that stops one calls `serve()`
again before using it, and the session ends with `make stop` for the run directory.
"""
from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from core.layout import RunLayout
from serve.process import free_port, port_free
from tests.conftest import run_module

RECIPE = "recipes/quickstart.yaml"
KEY = "pipeline-test-key"
KEY_ENV = "MEDKIT_API_KEY"  # the quickstart recipe's serve.api_key_env


def vllm_pids(marker: str) -> list[int]:
    found = subprocess.run(["pgrep", "-f", f"vllm.entrypoints.*{marker}"], capture_output=True, text=True)
    return [int(p) for p in found.stdout.split()]


def two_free_ports() -> int:
    """A free port whose next port is free too (the quickstart serves the merged model on port + 1)."""
    while True:
        port = free_port()
        if port_free("127.0.0.1", port + 1):
            return port


@dataclass
class Pipeline:
    dir: Path
    ports: dict[str, int]   # lora, merged, gateway
    output: str             # the quickstart's stdout

    @property
    def layout(self) -> RunLayout:
        return RunLayout(self.dir)

    @property
    def env(self) -> dict[str, str]:
        return {KEY_ENV: KEY}

    @property
    def base(self) -> list[str]:
        """RECIPE and overrides of every stage (vLLM LoRA-mounted on ports['lora'])."""
        return [RECIPE, f"run_dir={self.dir}", f"serve.port={self.ports['lora']}",
                f"rag.gateway.port={self.ports['gateway']}"]

    def argv(self, mode: str = "lora") -> list[str]:
        return self.base + (["serve.mode=merged", f"serve.port={self.ports['merged']}"] if mode == "merged" else [])

    def url(self, server: str) -> str:
        return f"http://127.0.0.1:{self.ports[server]}/v1"

    def serve(self, *modes: str) -> dict[str, str]:
        """`make serve` for each mode (default lora, with the gateway): starts what is not running."""
        outputs = {}
        for mode in modes or ("lora",):
            done = run_module("serve", "start", *self.argv(mode), env=self.env)
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
            outputs[mode] = done.stdout
        return outputs

    def stop(self) -> None:
        run_module("serve", "stop", *self.base)
        for pid in vllm_pids(str(self.dir)):
            os.kill(pid, signal.SIGKILL)


def build(root: Path) -> Pipeline:
    pipeline = Pipeline(root / "pipeline", {}, "")
    lora = two_free_ports()
    pipeline.ports.update(lora=lora, merged=lora + 1, gateway=free_port())
    done = run_module("scripts.quickstart", *pipeline.base, "--keep-serving", env=pipeline.env, timeout=1800)
    if done.returncode != 0:
        pipeline.stop()
        raise AssertionError(f"the quickstart failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    pipeline.output = done.stdout
    return pipeline
