"""`make adapter`: LoRA adapters added and removed on a running vLLM (CPU build), no restart.

The tiny model with adapters made by peft (no training needed to mount them), one vLLM
start in lora mode with serve.runtime_adapters, the key set, and a gateway in front
(in-process, over real HTTP) to see its /v1/models follow the change.
"""
from __future__ import annotations

import asyncio
import json
import subprocess

import httpx
import pytest

from core.recipe.load import load_recipe
from envs import bin_of
from serve import adapter_record, process
from serve.gateway.service import GatewayService
from serve.vllm_cmd import plan
from tests.conftest import ROOT, run_module
from tests.serve.gateway.conftest import ListRetriever, corpus, rag_settings

KEY = "adapter-test-key"
MAKE_ADAPTER = """
import sys
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM
base, out, rank = sys.argv[1], sys.argv[2], int(sys.argv[3])
model = get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                       LoraConfig(r=rank, lora_alpha=rank, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
model.save_pretrained(out)
"""


def make_adapter(base: str, out, rank: int) -> None:
    done = subprocess.run([bin_of("train"), "-c", MAKE_ADAPTER, base, str(out), str(rank)], capture_output=True,
                          text=True, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "adapters"
    port = process.free_port()
    args = ["recipes/quickstart.yaml", f"run_dir={run_dir}", f"serve.port={port}", "serve.runtime_adapters=true",
            "serve.max_loras=2", "rag=null"]
    recipe = load_recipe(ROOT / args[0], args[1:])
    from train.base_model import ensure_base_model
    ensure_base_model(recipe)
    base = str(run_dir / "tiny-model")
    for name, rank in (("adapter", 16), ("second", 8), ("third", 8), ("big", 64)):
        make_adapter(base, run_dir / name, rank)
    env = {"MEDKIT_API_KEY": KEY}
    started = run_module("serve", "start", *args, env=env)
    assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-3000:]
    try:
        yield {"args": args, "env": env, "run_dir": run_dir, "url": f"http://127.0.0.1:{port}/v1", "recipe": recipe}
    finally:
        run_module("serve", "stop", *args)


def models(url: str) -> list[str]:
    return [m["id"] for m in httpx.get(f"{url}/models", headers={"Authorization": f"Bearer {KEY}"}).json()["data"]]


def adapter(served, *extra: str) -> subprocess.CompletedProcess:
    return run_module("serve.adapters", *served["args"], *extra, env=served["env"])


def test_add_remove_and_restart_keep_the_set(served, monkeypatch):
    url, run_dir = served["url"], served["run_dir"]
    assert models(url) == ["base", "med-lora"]
    gateway = GatewayService(url, KEY, ListRetriever(corpus()), rag_settings())

    async def gateway_models():
        try:
            return [m["id"] for m in (await gateway.list_models())["data"]]
        finally:
            await gateway.aclose()

    done = adapter(served, "--add", "second", "--dir", str(run_dir / "second"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert models(url) == ["base", "med-lora", "second"]
    assert "second-rag" in asyncio.run(gateway_models())  # the gateway follows at once
    reply = httpx.post(f"{url}/chat/completions", headers={"Authorization": f"Bearer {KEY}"}, timeout=120,
                       json={"model": "second", "messages": [{"role": "user", "content": "头痛"}], "max_tokens": 4})
    assert reply.status_code == 200 and reply.json()["model"] == "second"

    # refused, and the server is left as it was
    for extra, message in ((["--add", "second", "--dir", str(run_dir / "second")], "already served"),
                           (["--add", "big", "--dir", str(run_dir / "big")], "set serve.max_lora_rank: 64"),
                           # serve.max_loras=2 on CPU: a third would share vLLM's spare slot with the base
                           (["--add", "third", "--dir", str(run_dir / "third")], "set serve.max_loras: 3"),
                           (["--add", "ghost", "--dir", str(run_dir / "nothing")], "no adapter folder"),
                           (["--remove", "ghost"], "not a served adapter")):
        done = adapter(served, *extra)
        assert done.returncode != 0 and message in done.stderr, (extra, done.stdout, done.stderr)
    assert models(url) == ["base", "med-lora", "second"]

    # without the key vLLM refuses the runtime endpoints
    assert httpx.post(f"{url}/load_lora_adapter", json={"lora_name": "x", "lora_path": str(run_dir / "second")}
                      ).status_code == 401

    done = adapter(served, "--remove", "med-lora")
    assert done.returncode == 0, done.stdout + done.stderr
    assert models(url) == ["base", "second"]
    record = adapter_record.read(served["recipe"])
    assert record["added"] == {"second": str((run_dir / "second").resolve())} and record["removed"] == ["med-lora"]
    # the next `make serve` mounts the same set
    monkeypatch.setenv("MEDKIT_SERVE_DEVICE", "cpu")
    launch = plan(served["recipe"])
    assert launch.models == ["base", "second"] and launch.env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "1"

    # a name reloaded from files changed since it was served: refused (stale prefix cache)
    assert adapter(served, "--remove", "second").returncode == 0
    weights = run_dir / "second" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes())  # retrained in place: same bytes, new mtime
    done = adapter(served, "--add", "second", "--dir", str(run_dir / "second"))
    assert done.returncode != 0 and "prefix cache" in done.stderr, done.stdout + done.stderr
    assert json.loads((run_dir / "serve" / "adapters.json").read_text())["added"] == {}
