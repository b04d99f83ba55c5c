"""The spine on CPU with real engines: LLaMA-Factory trains and merges the tiny model,
vLLM (CPU build) serves it both ways, the official openai client talks to it.

The run directory is the session's shared pipeline (tests/pipeline.py: one `make quickstart`
run, servers left running). A test that kills or stops servers starts its own in a run directory of
its own (private_run), so no test depends on another's order.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from core import cpu
from core.recipe.load import load_recipe
from core.server_record import ServerRecord
from serve import process
from serve.process import free_port
from tests.conftest import ROOT, run_module
from tests.pipeline import KEY, RECIPE, vllm_pids

SYSTEM = load_recipe(ROOT / RECIPE).data.system_prompt  # what every training example carried
QUESTION = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "最近总是失眠，白天没精神，该怎么调理？"}]


@pytest.fixture(scope="module")
def chain(pipeline):
    served = pipeline.serve("lora", "merged")  # running already unless an earlier module stopped them
    return {"dir": pipeline.dir, "ports": pipeline.ports, "argv": {m: pipeline.argv(m) for m in ("lora", "merged")},
            "env": pipeline.env, "served": served, "quickstart": pipeline.output}


def test_training_wrote_adapter_logs_and_plots(chain):
    out: Path = chain["dir"]
    adapter = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert adapter["r"] == 16 and adapter["peft_type"] == "LORA"
    assert (out / "adapter" / "training_loss.png").stat().st_size > 1000
    assert list((out / "logs" / "tensorboard").rglob("events.out.tfevents.*"))
    losses = [json.loads(l)["loss"] for l in (out / "adapter" / "trainer_log.jsonl").read_text().splitlines()
              if "loss" in json.loads(l)]
    assert losses[-1] < losses[0] - 1.0, f"training did not reduce the loss: {losses[0]} -> {losses[-1]}"
    assert (out / "recipe.resolved.yaml").exists() and (out / "llamafactory" / "train.yaml").exists()
    # the tiny model is generated on demand with the shape the recipe asks for
    config = json.loads((out / "tiny-model" / "config.json").read_text())
    assert config["hidden_size"] // config["num_attention_heads"] == 64


def test_export_checked_the_merged_model(chain):
    text = chain["quickstart"]
    for check in ("chat template present", "eos token set", "pad token set",
                  "generation_config stops at the tokenizer's eos", "forward pass finite"):
        assert f"ok    {check}" in text
    assert "FAIL" not in text


def test_serve_lora_and_merged_answer_the_openai_client(chain):
    for mode in ("lora", "merged"):
        assert f"base URL  http://127.0.0.1:{chain['ports'][mode]}/v1" in chain["served"][mode]
    lora = openai.OpenAI(base_url=f"http://127.0.0.1:{chain['ports']['lora']}/v1", api_key=KEY)
    merged = openai.OpenAI(base_url=f"http://127.0.0.1:{chain['ports']['merged']}/v1", api_key=KEY)
    assert {m.id for m in lora.models.list()} == {"base", "med-lora"}
    assert [m.id for m in merged.models.list()] == ["med-merged"]

    answers = {}
    for client, model in ((lora, "base"), (lora, "med-lora"), (merged, "med-merged")):
        reply = client.chat.completions.create(model=model, messages=QUESTION, max_tokens=24, temperature=0)
        assert reply.object == "chat.completion" and reply.usage.completion_tokens > 0
        stream = client.chat.completions.create(model=model, messages=QUESTION, max_tokens=24,
                                                temperature=0, stream=True)
        streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert streamed == reply.choices[0].message.content
        answers[model] = streamed
    assert answers["med-lora"] != answers["base"], "the adapter must change the base model's answer"
    dtype = ServerRecord.read(chain["dir"] / "serve" / "vllm-merged.json").dtype
    if dtype == "float32":  # exact: one float32 computation either way
        assert answers["med-lora"] == answers["med-merged"], "merged and mounted LoRA answer alike"
    # in bfloat16 the two differ by rounding (the tiny model's logits lie within 0.1 of each other, so a
    # token can flip): `make parity` judges them by the 16-bit tolerance (test_parity_uses_the_running_servers)
    for model in ("med-lora", "med-merged"):
        assert answers[model].startswith("【"), f"{model}: the tuned model opens with a section header"

    anonymous = openai.OpenAI(base_url=f"http://127.0.0.1:{chain['ports']['lora']}/v1", api_key="wrong")
    with pytest.raises(openai.AuthenticationError):
        anonymous.chat.completions.create(model="base", messages=QUESTION, max_tokens=2)


def test_gateway_answers_with_sources_in_front_of_vllm(chain):
    gateway = openai.OpenAI(base_url=f"http://127.0.0.1:{chain['ports']['gateway']}/v1", api_key=KEY)
    direct = openai.OpenAI(base_url=f"http://127.0.0.1:{chain['ports']['lora']}/v1", api_key=KEY)
    assert {m.id for m in gateway.models.list()} >= {"base", "med-lora", "base-rag", "med-lora-rag"}
    # plain models pass straight through: same greedy answer as vLLM itself
    via = gateway.chat.completions.create(model="med-lora", messages=QUESTION, max_tokens=16, temperature=0)
    own = direct.chat.completions.create(model="med-lora", messages=QUESTION, max_tokens=16, temperature=0)
    assert via.choices[0].message.content == own.choices[0].message.content
    # the -rag variant streams its sources first, then the answer
    # min_tokens (passed through to vLLM): a random-weight model may pick EOS first for a given prompt
    stream = gateway.chat.completions.create(model="med-lora-rag", max_tokens=16, temperature=0, stream=True,
                                             messages=[{"role": "user", "content": "高血压患者饮食要注意什么？"}],
                                             extra_body={"min_tokens": 4})
    chunks = list(stream)
    sources = (chunks[0].model_extra or {}).get("sources")
    assert sources and 1 <= len(sources) <= 5
    assert all(0.0 <= s["score"] <= 1.0 and s["title"] for s in sources)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    # Dify: provider validation and the external knowledge API
    ping = gateway.chat.completions.create(model="med-lora-rag", max_tokens=5,
                                           messages=[{"role": "user", "content": "ping"}])
    assert ping.object == "chat.completion"
    records = httpx.post(f"http://127.0.0.1:{chain['ports']['gateway']}/retrieval",
                         headers={"Authorization": f"Bearer {KEY}"},
                         json={"knowledge_id": "medkit", "query": "高血压",
                               "retrieval_setting": {"top_k": 3, "score_threshold": 0.0}}).json()["records"]
    assert 1 <= len(records) <= 3 and all(isinstance(r["metadata"], dict) for r in records)


def vllm_metric(port: int, name: str) -> float:
    """Sum of a vLLM Prometheus series over its labels (/metrics needs the key, as every route but liveness)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {KEY}"}).text
    return sum(float(v) for v in re.findall(rf"^{re.escape(name)}{{[^}}]*}} (\S+)", text, re.M))


def test_client_giving_up_through_the_gateway_stops_vllm_generating(chain):
    port, budget = chain["ports"]["lora"], 1900  # tokens: seconds of work for vLLM CPU
    before = vllm_metric(port, "vllm:generation_tokens_total")
    try:
        reply = httpx.post(f"http://127.0.0.1:{chain['ports']['gateway']}/v1/chat/completions", timeout=1.0,
                           headers={"Authorization": f"Bearer {KEY}"},
                           json={"model": "med-lora", "messages": QUESTION, "max_tokens": budget, "ignore_eos": True})
        pytest.fail(f"expected to give up after 1 s, got {reply.status_code} {reply.text[:500]}")
    except httpx.ReadTimeout:
        pass
    deadline = time.time() + 60
    while vllm_metric(port, "vllm:num_requests_running") > 0:
        assert time.time() < deadline
        time.sleep(0.05)
    generated = vllm_metric(port, "vllm:generation_tokens_total") - before
    assert 0 < generated < budget, f"vLLM generated {generated} of {budget} tokens for a client that had left"


def test_parity_uses_the_running_servers_and_matches(chain):
    # the quantized column has no running server here (tests/integration/test_quantized_model.py checks it)
    done = run_module("serve.parity", *chain["argv"]["lora"], "quantize=", env=chain["env"])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "starting a temporary" not in done.stdout
    table = json.loads((chain["dir"] / "parity" / "parity.json").read_text())
    # 8 chats + the first without its system message; base+lora: the base model in batches shared with the adapter
    dtypes = {column["dtype"] for column in table["columns"].values()}
    assert dtypes == {cpu.serving_dtype()}  # serve.dtype auto: what this CPU computes natively
    if dtypes == {"float32"}:  # token for token
        assert table["exact_matches"] == {"merged": 9, "lora": 9, "base_beside_lora": 9}
    else:  # bfloat16: every token within parity.tolerance_16bit of the float32 reference's choice (exit 0)
        assert all(gap <= table["columns"][name]["tolerance"]
                   for row in table["rows"] for name, gap in row["largest_gap"].items()), table["rows"]


# State-changing routes that take no body: with the key they would act (pause the engine, drop
# caches, start a profiler), so only their refusal without the key is checked; the key check itself
# is the same for every path (serve/vllm_plugin/medkit_key_guard.py).
ACTS_WITHOUT_A_BODY = {"/pause", "/resume", "/sleep", "/wake_up", "/reset_prefix_cache", "/reset_mm_cache",
                       "/reset_encoder_cache", "/start_profile", "/stop_profile", "/release_kv_cache_memory",
                       "/collective_rpc", "/abort_requests", "/scale_elastic_ep"}


def every_route(base: str) -> list[tuple[str, str]]:
    """(method, path) of every operation in the server's own OpenAPI document (read with the key)."""
    spec = httpx.get(f"{base}/openapi.json", headers={"Authorization": f"Bearer {KEY}"}, timeout=30).json()
    return sorted((method.upper(), re.sub(r"\{[^}]+\}", "x", path))
                  for path, ops in spec["paths"].items() for method in ops)


def call(base: str, method: str, path: str, key: str | None) -> int:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return httpx.request(method, f"{base}{path}", headers=headers, json=body, timeout=60).status_code


@pytest.mark.parametrize("server,open_paths", [("lora", {"/health", "/ping"}), ("gateway", {"/health", "/ready"})])
def test_every_route_needs_the_key_but_liveness(chain, server, open_paths):
    base = f"http://127.0.0.1:{chain['ports'][server]}"
    routes = every_route(base)
    table = []
    for method, path in routes:
        without = call(base, method, path, None)
        wrong = call(base, method, path, "not-the-key")
        with_key = None if path in ACTS_WITHOUT_A_BODY else call(base, method, path, KEY)
        table.append((method, path, without, wrong, with_key))
    print(f"\n{server}: method path | no key | wrong key | key")
    for row in table:
        print(f"  {row[0]:6s} {row[1]:40s} {row[2]} {row[3]} {row[4]}")
    refused = (401, 403)  # /retrieval answers Dify's 403
    for method, path, without, wrong, with_key in table:
        if path in open_paths:
            assert without not in refused, (method, path)
            continue
        assert without in refused and wrong in refused, (method, path, without, wrong)
        assert with_key not in refused, (method, path, with_key)
    paths = {p for _, p in routes}
    if server == "lora":  # what the attack found open
        assert {"/invocations", "/tokenize", "/detokenize", "/metrics", "/v1/chat/completions"} <= paths
    assert httpx.get(f"{base}/openapi.json").status_code == 401
    assert httpx.get(f"{base}/docs").status_code == 401  # not in the document, guarded all the same
    if server == "gateway":
        assert httpx.get(f"{base}/ready").json() == {"status": "ready"}


def in_session(sid: int) -> list[int]:
    """Every live process of session `sid`, read from /proc here (independently of serve.process)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split() if entry.name.isdigit() else []
        except OSError:
            continue
        if fields and fields[0] != "Z" and int(fields[3]) == sid:
            found.append(int(entry.name))
    return sorted(found)


@pytest.fixture
def private_run(chain, tmp_path):
    """A run directory of this test's own with a copy of the pipeline's models (3 MB each): servers
    started there are this test's to kill and stop, and its command lines name it; the shared ones
    keep serving."""
    run = tmp_path / "run"
    for name in ("tiny-model", "adapter", "merged", "index", "data"):
        shutil.copytree(chain["dir"] / name, run / name)
    argv = [RECIPE, f"run_dir={run}", f"serve.port={free_port()}", f"rag.gateway.port={free_port()}",
            "serve.enforce_eager=true"]  # what these tests check is process handling: no compile at start-up
    yield {"dir": run, "argv": argv, "shared": chain["dir"]}
    run_module("serve", "stop", *argv)


def test_status_and_stop_end_every_process_even_after_a_sigkill(private_run):
    """SIGKILL of vLLM's API server leaves its EngineCore running: status shows it, stop ends it,
    and stop ends exactly this recipe's servers."""
    run, argv = private_run["dir"], private_run["argv"] + ["serve.mode=merged"]
    started = run_module("serve", "start", *argv)
    assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]
    listed = run_module("serve", "status", str(run.parent))
    assert "vLLM (merged)" in listed.stdout and "RAG gateway" in listed.stdout
    record = ServerRecord.read(run / "serve" / "vllm-merged.json")
    titles = {process.cmdline(pid).strip() for pid in in_session(record.pgid)}
    assert {"VLLM::EngineCore", "VLLM::Worker"} <= titles, titles
    os.kill(record.pid, signal.SIGKILL)
    deadline = time.time() + 10
    while record.pid in in_session(record.pgid):
        assert time.time() < deadline
        time.sleep(0.1)
    left = in_session(record.pgid)
    assert {process.cmdline(pid).strip() for pid in left} >= {"VLLM::EngineCore", "VLLM::Worker"}
    assert process.server_pids(record) == left
    listed = run_module("serve", "status", str(run.parent)).stdout
    assert "LEADER GONE" in listed and all(str(pid) in listed for pid in left) and "RAG gateway" in listed
    print(f"\nafter SIGKILL of pid {record.pid}:\n{listed}")
    done = run_module("serve", "stop", *argv)
    print(done.stdout)
    assert done.returncode == 0 and "RAG gateway" in done.stdout
    assert "vLLM (merged) (pid" in done.stdout and "had died" in done.stdout
    time.sleep(1)
    assert in_session(record.pgid) == [] and not any(process.cmdline(pid) for pid in left)
    assert vllm_pids(str(run)) == []
    assert "nothing running" in run_module("serve", "status", str(run.parent)).stdout
    assert vllm_pids(str(private_run["shared"])) != [], "the shared servers were left alone"


def test_vllm_failing_to_start_shows_the_log_and_leaves_no_process(private_run):
    run = private_run["dir"]
    # 999999 tokens exceed the tiny model's 2048 positions: vLLM refuses at start-up
    done = run_module("serve", "start", *private_run["argv"], "serve.max_model_len=999999")
    assert done.returncode != 0
    assert "exited with status" in done.stderr and "Last lines of" in done.stderr
    assert "max_model_len" in done.stderr or "max-model-len" in done.stderr
    assert vllm_pids(str(run)) == []
    assert not (run / "serve" / "vllm-lora.json").exists()


def test_interrupted_training_resumes_from_its_last_checkpoint(tmp_path):
    run_dir = tmp_path / "resume"
    args = [RECIPE, f"run_dir={run_dir}", "finetune.save_steps=20", "finetune.epochs=3"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen([sys.executable, "-m", "train", *args], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while not (run_dir / "adapter" / "checkpoint-40").exists():
        assert first.poll() is None, "training ended before it could be interrupted"
        assert time.time() < deadline, "no checkpoint within 300 s"
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)  # as abrupt as a lost SSH session or an OOM kill
    first.wait()
    assert not (run_dir / "adapter" / "medkit_train_done.json").exists()

    second = run_module("train", *args)
    assert second.returncode == 0, second.stdout[-3000:]
    assert "resuming from" in second.stdout and "Resuming training from" in second.stdout
    # a checkpoint the kill cut short while saving is set aside, not resumed from (nor deleted)
    set_aside = list((run_dir / "adapter").glob("checkpoint-*.incomplete-*"))
    assert all("was cut short" in second.stdout for _ in set_aside)
    state = json.loads((run_dir / "adapter" / "trainer_state.json").read_text())
    assert state["global_step"] == state["max_steps"] > 40  # all three epochs, not stopped at 40
