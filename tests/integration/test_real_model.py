"""The real-model lane on CPU: SmolLM2-135M-Instruct, packaged on PyPI, through the whole
toolkit with a short training: materialise, LoRA, merge, serve both ways, parity with and
without a system message, a RAG answer through the gateway, a small evaluation.

One run directory is built once for the module; tests then use it in order.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from core.recipe.load import load_recipe
from core.recipe.packaged import PACKAGED, packaged_dir
from envs import bin_of
from serve.process import free_port
from tests.conftest import ROOT, run_module

RECIPE = "recipes/smollm2-135m_cpu_lora.yaml"
KEY = "lane-key-456"
SYSTEM = load_recipe(ROOT / RECIPE).data.system_prompt
QUESTION = "I have had a dry cough for two weeks and it is worse at night. What should I do?"


@pytest.fixture(scope="module")
def lane(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "lane"
    ports = {"lora": free_port(), "merged": free_port(), "gateway": free_port()}
    # a short training: the lane's plumbing, not its effect, is what CI checks; no torch.compile at
    # start-up (the merged server is ready in about 50 s instead of 150 s on 2 cores)
    base = [RECIPE, f"run_dir={run_dir}", f"rag.gateway.port={ports['gateway']}", "finetune.max_steps=6",
            "finetune.save_steps=6", "finetune.cutoff_len=256", "eval.limit=2", "eval.max_tokens=32",
            "parity.prompts=2", "serve.enforce_eager=true"]
    outputs = {}
    for stage in ("converters.build", "train", "train.export", "serve.rag.index"):
        done = run_module(stage, *base, timeout=1500)
        assert done.returncode == 0, f"{stage} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        outputs[stage] = done.stdout
    env = {"MEDKIT_API_KEY": KEY}
    argv = {"lora": base + [f"serve.port={ports['lora']}"],
            "merged": base + ["serve.mode=merged", f"serve.port={ports['merged']}"]}
    # both servers start side by side (as the quickstart starts them); the gateway only with the first
    with ThreadPoolExecutor(max_workers=2) as pool:
        starts = [pool.submit(run_module, "serve", "start", *argv["lora"], env=env),
                  pool.submit(run_module, "serve", "start", *argv["merged"], "rag=null", env=env)]
        for done in [f.result() for f in starts]:
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    yield {"dir": run_dir, "ports": ports, "argv": argv, "env": env, "outputs": outputs}
    run_module("serve", "stop", *base)
    found = subprocess.run(["pgrep", "-f", f"vllm.entrypoints.*{run_dir}"], capture_output=True, text=True)
    for pid in map(int, found.stdout.split()):
        os.kill(pid, signal.SIGKILL)


def client(lane, mode: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"http://127.0.0.1:{lane['ports'][mode]}/v1", api_key=KEY, timeout=300)


def test_the_packaged_model_is_materialised_once_with_checksums(lane):
    folder = packaged_dir("smollm2-135m-instruct")
    stamp = json.loads((folder / "medkit_packaged.json").read_text())
    assert stamp["source_sha256"] == PACKAGED["smollm2-135m-instruct"].sha256
    assert set(stamp["files"]) >= {"model.safetensors", "tokenizer.json", "config.json", "generation_config.json"}
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and config["num_hidden_layers"] == 30
    # LLaMA-Factory trained on that folder with the model's own default system prompt
    train_yaml = (lane["dir"] / "llamafactory" / "train.yaml").read_text()
    assert f"model_name_or_path: {folder}" in train_yaml and "default_system: You are a helpful" in train_yaml
    export = lane["outputs"]["train.export"]
    assert "ok    chat template equals the base model's" in export and "FAIL" not in export


def test_the_base_model_speaks_and_stops_at_its_own_eos(lane):
    reply = client(lane, "lora").chat.completions.create(
        model="base", max_tokens=64, temperature=0,
        messages=[{"role": "user", "content": "Answer in one short sentence: why do we sleep?"}])
    text = reply.choices[0].message.content
    assert len(text.split()) >= 5 and text.isascii(), text
    assert reply.choices[0].finish_reason == "stop", "a real model ends its turn at <|im_end|>"


def test_adapter_changes_the_answer_and_merged_equals_mounted(lane):
    chat = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]
    answers = {}
    for mode, model in (("lora", "base"), ("lora", "smol-med"), ("merged", "smol-med-merged")):
        reply = client(lane, mode).chat.completions.create(model=model, messages=chat, max_tokens=24, temperature=0)
        answers[model] = reply.choices[0].message.content
    assert answers["smol-med"] != answers["base"]
    assert answers["smol-med"] == answers["smol-med-merged"]


def test_parity_matches_token_for_token_including_the_default_system_prompt(lane):
    done = run_module("serve.parity", *lane["argv"]["lora"], env=lane["env"], timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    table = json.loads((lane["dir"] / "parity" / "parity.json").read_text())
    assert [row["system"] for row in table["rows"]] == ["given", "given", "default"]
    assert all(row["merged"] == "match" and row["lora"] == "match" for row in table["rows"]), table


def test_llamafactory_own_default_system_would_be_caught_as_train_prompt(lane):
    # The GGUF's template says "...by Hugging Face" and LLaMA-Factory's smollm2 template
    # "...by Hugging Face." Without the recipe's override a chat with no system message
    # is trained in one format and served in another: parity's TRAIN-PROMPT verdict.
    code = f"""
        import json
        from train.hf_generate import training_prompt_ids
        from transformers import AutoTokenizer
        base = {str(packaged_dir("smollm2-135m-instruct"))!r}
        chat = [{{"role": "user", "content": "hello"}}]
        served = AutoTokenizer.from_pretrained(base).apply_chat_template(chat, add_generation_prompt=True,
                                                                          return_dict=True)["input_ids"]
        # stock first: LLaMA-Factory writes default_system into its shared template object
        stock = training_prompt_ids(base, "smollm2", None, [chat])[0]
        fixed = training_prompt_ids(base, "smollm2", {PACKAGED["smollm2-135m-instruct"].default_system!r}, [chat])[0]
        print(json.dumps([fixed == served, stock == served]))
    """
    done = subprocess.run([bin_of("train"), "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True,
                          text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [True, False]


def test_rag_answer_through_the_gateway_streams_sources_first(lane):
    gateway = openai.OpenAI(base_url=f"http://127.0.0.1:{lane['ports']['gateway']}/v1", api_key=KEY, timeout=300)
    stream = gateway.chat.completions.create(model="smol-med-rag", max_tokens=24, temperature=0, stream=True,
                                             messages=[{"role": "user", "content": QUESTION}])
    chunks = list(stream)
    sources = (chunks[0].model_extra or {}).get("sources")
    assert sources and all(s["title"] for s in sources)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_a_small_evaluation_reports_base_sft_and_sft_rag(lane):
    done = run_module("evaluation", *lane["argv"]["lora"], "--no-progress", env=lane["env"], timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    results = json.loads((lane["dir"] / "eval" / "results.json").read_text())
    assert [t["name"] for t in results["targets"]] == ["base", "sft", "sft+rag"]
    # eval.prefer_merged: the adapter is evaluated on the merged server running beside it
    assert [t["model"] for t in results["targets"]] == ["base", "smol-med-merged", "smol-med-rag"]
    report = (lane["dir"] / "eval" / "report.md").read_text()
    assert "sft+rag" in report
    # the grounded suite: 2 held-out questions of each knowledge file, the fact read on every target and,
    # through the gateway, each answer's citations checked against the passage that states the fact
    suites = results["suites"]
    assert suites["sft"]["grounded"]["n"] == suites["sft+rag"]["grounded"]["n"] == 6
    assert "answers_citing" not in suites["sft"]["grounded"] and suites["sft+rag"]["grounded"]["hit_at_k"] > 0
    rows = [json.loads(r) for r in (lane["dir"] / "eval" / "predictions" / "sft+rag.jsonl").read_text().splitlines()]
    cited = [r for r in rows if r.get("grounded_cites")]
    assert all(r["grounded_citation_precision"] is not None for r in cited)
    assert suites["sft+rag"]["grounded"]["answers_citing"] == len(cited) / 6
    assert "## Grounded answers (suite grounded)" in report
    # the no-system variant: the open and out-of-scope items again, without a system message
    assert {r["variant"] for r in rows} >= {"full", "bare"} and "paired" in suites["sft"]["nosystem"]
