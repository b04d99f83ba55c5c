"""`make eval` against the real chain: vLLM (CPU build) serving the tiny base + LoRA, the RAG
gateway in front, base vs sft vs sft+rag in one run, with a killed run resumed.

The chain is the session's shared pipeline (tests/pipeline.py); this test evaluates it
afresh (the quickstart's own evaluation is removed first, so the kill lands on an empty cache).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

from evaluation.cache import Cache
from tests.conftest import ROOT, run_module


def test_base_sft_and_sft_rag_through_vllm_and_the_gateway(pipeline):
    pipeline.serve()  # vLLM (LoRA-mounted) and the gateway, unless already running
    base, env, gateway_port = pipeline.base, pipeline.env, pipeline.ports["gateway"]
    shutil.rmtree(pipeline.layout.eval, ignore_errors=True)
    # the served base model is also the judge (the plumbing is what this checks: a random tiny model
    # cannot grade), and the perplexity suite asks vLLM itself for prompt log-probabilities
    argv = [*base, "eval.limit=2", "eval.max_tokens=48", "eval.concurrency=4", "--serving-items", "3",
            "eval.judge={model: base, api_key_env: MEDKIT_API_KEY}", "--no-progress"]
    # first run killed as soon as some answers are cached, then resumed
    first = subprocess.Popen([sys.executable, "-m", "evaluation", *argv], cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT), **env},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    cache = pipeline.layout.eval / "cache" / "base.jsonl"
    deadline = time.time() + 120
    while not (cache.exists() and len(Cache(cache).entries) >= 3):
        assert first.poll() is None, "the evaluation ended before it could be killed"
        assert time.time() < deadline, "no cached answer within 120 s"
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    kept = len(Cache(cache).entries)

    done = run_module("evaluation", *argv, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = pipeline.layout.eval
    results = json.loads((out / "results.json").read_text())
    targets = {t["name"]: t for t in results["targets"]}
    assert list(targets) == ["base", "sft", "sft+rag"] and all(t["status"] == "ok" for t in targets.values())
    bare = [r for r in map(json.loads, (pipeline.layout.eval / "predictions" / "base.jsonl").read_text().splitlines())
            if r["variant"] == "bare"]  # suite nosystem: open and out-of-scope items without a system message
    assert bare and targets["base"]["cached"] >= kept and targets["base"]["cached"] + targets["base"]["fresh"] == \
        2 * results["items"]["total"] + len(bare) + 3
    assert targets["sft+rag"]["base_url"] == f"http://127.0.0.1:{gateway_port}/v1" and targets["sft+rag"]["rag"]

    suites = results["suites"]
    assert {"choice", "open", "format", "safety", "serving", "ablation"} <= set(suites["sft"])
    assert "rag" in suites["sft+rag"] and suites["sft+rag"]["rag"]["with_sources"] == 1.0
    assert suites["base"]["serving"]["ttft_p50_ms"] > 0 and suites["sft+rag"]["serving"]["n"] == 3
    assert 0 < suites["sft"]["open"]["rougeL"] <= 1
    report = (out / "report.md").read_text()
    for row in ("| base |", "| sft |", "| sft+rag |"):
        assert row in report
    assert "over character tokens" in report and "71.4" in report
    for png in ("metrics_bars.png", "radar.png", "training_loss.png"):
        assert (out / png).stat().st_size > 10_000, png
    # perplexity of the references on the same items, from vLLM; the LoRA changes it; the gateway has none
    ppl = {t: suites[t]["perplexity"] for t in ("base", "sft")}
    assert ppl["base"]["n"] == ppl["sft"]["n"] >= 1 and ppl["base"]["tokens"] == ppl["sft"]["tokens"] > 0
    assert ppl["base"]["perplexity"] > 1 and ppl["base"]["perplexity"] != ppl["sft"]["perplexity"]
    assert "perplexity" not in suites["sft+rag"] and "## Perplexity of the reference answers" in report
    # the quickstart's eval.choice_scoring both: exam items also scored per option by log-likelihood, on
    # vLLM only (the gateway has no /tokenize); test_lm_eval_agreement.py checks it against lm-eval
    ll = {t: suites[t]["loglikelihood"] for t in ("base", "sft")}
    assert ll["base"]["n"] == ll["sft"]["n"] == suites["base"]["choice"]["n"] - 1  # CMB's multi-answer item
    assert ll["base"]["multi_answer"] == 1 and ll["base"]["items_per_s"] > 0
    assert "loglikelihood" not in suites["sft+rag"] and "## Multiple choice by log-likelihood" in report
    # the judge: every planned judgement asked and cached, the section written whatever it said
    judge = results["judge"]
    assert judge["requests"]["answered"] == judge["requests"]["planned"] > 0, judge
    # the multi-turn suite (the quickstart recipe's eval.multiturn) shares the judge's cache for its
    # consistency verdicts, and answers every consultation to its last turn
    multi = results["multiturn"]
    assert len(Cache(out / "judge_cache" / "judge.jsonl").entries) == \
        judge["requests"]["planned"] + multi["judge"]["planned"]
    assert multi["judge"]["answered"] == multi["judge"]["planned"] > 0
    assert all(multi["targets"][t]["complete"] == multi["items"] for t in ("base", "sft", "sft+rag"))
    assert "## Multi-turn consultations" in report
    assert "## LLM judge" in report
    rows = (out / "predictions" / "sft+rag.jsonl").read_text().splitlines()
    assert any(json.loads(r).get("sources") for r in rows)
    # the grounded suite (the quickstart's facts_zh sample): facts read on every target, citations scored
    # against the gateway's sources on the retrieval target; the no-system variant paired with the full one
    grounded = {t: suites[t]["grounded"] for t in ("base", "sft", "sft+rag")}
    assert grounded["base"]["n"] == grounded["sft+rag"]["n"] == 2 and "answers_citing" not in grounded["sft"]
    assert grounded["sft+rag"]["hit_at_k"] is not None and "answers_citing" in grounded["sft+rag"]
    scored = [json.loads(r) for r in rows if "grounded_fact" in json.loads(r) and json.loads(r)["variant"] == "full"]
    assert len(scored) == 2 and all("grounded_cites" in r and "grounded_hit" in r for r in scored)
    assert "## Grounded answers (suite grounded)" in report and "## Without a system message" in report
    assert "five-section format" in suites["sft"]["nosystem"]["paired"]
