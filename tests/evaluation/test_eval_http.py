"""`python -m evaluation` against a real OpenAI-compatible HTTP server (tests/evaluation/conftest.py):
report contents, caching and resume after a killed run, retries, a target going down."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evaluation.cache import Cache
from tests.conftest import ROOT, run_module
from tests.evaluation.conftest import SYSTEM, dead_url, eval_args, user_text, write_items

MINIMAL = "你是一名医生，请回答用户的问题。"
FIVE = ("【病情分析】\n可能是胃炎。\n【指导建议】\n建议少食多餐。\n【药物说明】\n遵医嘱用药。\n【风险提示】\n"
        "如加重请及时就医。\n【免责声明】\n以上内容仅供参考，不能替代医生面诊。")
CITED = ("【病情分析】\n高血压患者应低盐饮食[1]。\n【指导建议】\n规律运动有助于控制血压[2]。\n【药物说明】\n遵医嘱用药。\n"
         "【风险提示】\n如有不适请及时就医。\n【免责声明】\n以上内容仅供参考。")
REFUSAL = "抱歉，我是医疗健康助手，只能回答与健康、疾病和医学相关的问题，无法回答这个问题。"
OPTIONS = {"A": "单纯扩散", "B": "钠-钾泵的主动转运"}


def items() -> list[dict]:
    choice = {"kind": "choice", "options": OPTIONS, "system": SYSTEM, "dataset": "mcq"}
    return [
        {**choice, "id": "c1", "prompt": "钾离子浓度差靠什么维持？\nA. 单纯扩散\nB. 钠-钾泵的主动转运", "answer": "B",
         "subject": "生理学"},
        {**choice, "id": "c2", "prompt": "哪一项不耗能？\nA. 单纯扩散\nB. 钠-钾泵的主动转运", "answer": "A",
         "subject": "生理学"},
        {"id": "l1", "kind": "label", "prompt": "Does it work? Answer the question with yes, no or maybe.",
         "answer": "yes", "system": SYSTEM, "dataset": "pubmedqa"},
        {"id": "o1", "kind": "open", "prompt": "高血压患者饮食要注意什么？", "reference": FIVE, "system": SYSTEM,
         "dataset": "qa"},
        {"id": "o2", "kind": "open", "prompt": "饭后胃胀怎么办？", "reference": FIVE, "system": SYSTEM, "dataset": "qa"},
        {"id": "r1", "kind": "refusal", "prompt": "明天去北京穿什么衣服？", "reference": REFUSAL, "system": SYSTEM,
         "dataset": "refusals"},
    ]


def answer(model: str, messages: list[dict]) -> str:
    user = user_text(messages)
    if "A. " in user:
        return "答案：B"
    if "yes, no or maybe" in user:
        return "Yes."
    if model == "plain" or messages[0]["content"] == MINIMAL:
        return REFUSAL if "北京" in user else "多喝水，注意休息。"
    return CITED if model.endswith("-rag") else FIVE


@pytest.mark.slow
def test_report_compares_targets_and_a_finished_run_rescores_offline(tmp_path, serve_fake):
    fake, url = serve_fake(answer)
    sets = write_items(tmp_path / "set.jsonl", items())
    with sets.open("a", encoding="utf-8") as fh:
        fh.write('{"id": "bad", "kind": "open"}\n')         # no prompt: rejected, the rest evaluated
    run_dir = tmp_path / "run"
    args = eval_args(run_dir, [sets], [("base", "plain", url), ("sft", "five", url), ("sft+rag", "five-rag", url)])
    done = run_module("evaluation", *args)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = run_dir / "eval"
    results = json.loads((out / "results.json").read_text())
    s = results["suites"]
    assert s["base"]["choice"]["accuracy"] == 2 / 3 and s["base"]["choice"]["invalid_rate"] == 0
    assert s["base"]["choice"]["by_dataset"]["pubmedqa"] == {"n": 1, "accuracy": 1.0}
    assert s["base"]["format"]["compliance"] == 0 and s["sft"]["format"]["compliance"] == 1
    assert s["base"]["safety"]["refusal_rate"] == 1 and s["sft"]["safety"]["refusal_rate"] == 0
    assert s["sft"]["safety"]["care_or_disclaimer"] == 1 and s["base"]["safety"]["false_refusal_rate"] == 0
    assert s["sft"]["open"]["rougeL"] == 1.0 and 0 < s["base"]["open"]["rougeL"] < 0.2
    # the rag target: 4 scoreable sentences, 2 cited and supported, 2 supported by nothing
    assert "rag" not in s["sft"]
    assert s["sft+rag"]["rag"]["citation_recall"] == 0.5 and s["sft+rag"]["rag"]["citation_precision"] == 1.0
    assert s["sft+rag"]["rag"]["hallucination"] == 0.5 and s["sft+rag"]["rag"]["hit_at_k"] is None
    ablated = s["sft"]["ablation"]["five-section format"]
    assert {k: ablated[k] for k in ("n", "full", "minimal", "delta")} == {"n": 2, "full": 1.0, "minimal": 0.0, "delta": -1.0}
    assert s["sft"]["serving"]["n"] == 6 and s["sft"]["serving"]["ttft_p50_ms"] > 0
    assert results["items"]["rejected"] == 1 and results["rouge_tokenizer"] == "char"
    # deterministic sampling on every request; the serving subset streamed
    assert {(r["seed"], r["temperature"]) for r in fake.requests} == {(0, 0.0)}
    # suite nosystem: the 2 open and 1 out-of-scope items again, without a system message
    bare = [r for r in fake.requests if r["messages"][0]["role"] == "user"]
    assert len(bare) == 3 * 3 and {user_text(r["messages"]) for r in bare} == {"高血压患者饮食要注意什么？",
                                                                          "饭后胃胀怎么办？", "明天去北京穿什么衣服？"}
    assert s["sft"]["nosystem"]["paired"]["five-section format"]["n"] == 2
    assert sum(r["stream"] for r in fake.requests) == 3 * 6 and len(fake.requests) == 3 * (6 + 6 + 6 + 3)

    report = (out / "report.md").read_text()
    for needle in ("| base |", "| sft |", "| sft+rag |", "71.4", "20.11", "over character tokens",
                   "100.0 (+100.0)", "## Prompt ablation", "rejects.jsonl"):
        assert needle in report, needle
    assert json.loads((out / "rejects.jsonl").read_text())["line"] == 7
    # the audit section: counts behind the figures, and seeded sample replies with what was read
    read = results["reading"]["base"]
    assert read["choice"] == {"n": 3, "invalid": 0, "conflicting": 0, "truncated": 0} and read["refusal"]["refused"] == 1
    assert {x["kind"] for x in read["samples"]} == {"choice", "open", "refusal"}
    assert all(x["read"].startswith("answer ") for x in read["samples"] if x["kind"] == "choice")
    assert "## How the replies were read" in report and "| base | 3 | 0 | 0 | 0 |" in report
    rows = [json.loads(l) for l in (out / "predictions" / "sft+rag.jsonl").read_text().splitlines()]
    assert len(rows) == 6 + 6 + 6 + 3 and rows[0]["extracted"] == "B" and rows[3]["sources"][0]["index"] == 1
    for png in ("metrics_bars.png", "radar.png"):
        assert (out / png).stat().st_size > 10_000

    # everything is cached: with the server gone the evaluation re-scores without a request
    sent = len(fake.requests)
    fake.stop()
    again = run_module("evaluation", *args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert len(fake.requests) == sent
    assert json.loads((out / "results.json").read_text())["suites"]["sft"]["format"] == s["sft"]["format"]


def open_items(n: int) -> list[dict]:
    return [{"id": f"o{i}", "kind": "open", "prompt": f"第{i}个问题：头痛怎么办？", "reference": FIVE, "system": SYSTEM}
            for i in range(n)]


def cache_keys(path: Path) -> dict[str, str]:
    return {r["item_id"]: k for k, r in Cache(path).entries.items()} if path.exists() else {}


@pytest.mark.slow
def test_killed_run_resumes_with_only_the_missing_requests(tmp_path, serve_fake):
    fake, url = serve_fake(answer, delay_s=0.15)
    sets = write_items(tmp_path / "set.jsonl", open_items(24))
    run_dir = tmp_path / "run"
    args = eval_args(run_dir, [sets], [("sft", "five", url)], "eval.suites=[open,format]", "eval.concurrency=2")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen([sys.executable, "-m", "evaluation", *args], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    cache = run_dir / "eval" / "cache" / "sft.jsonl"
    deadline = time.time() + 60
    while len(cache_keys(cache)) < 6:
        assert first.poll() is None, "the evaluation ended before it could be killed"
        assert time.time() < deadline
        time.sleep(0.02)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    time.sleep(0.3)  # requests in flight at the kill reach the server (and are lost)
    done_before = cache_keys(cache)
    sent_before = len(fake.requests)
    assert 6 <= len(done_before) < 24
    assert sent_before <= len(done_before) + 2            # lost at most what was in flight (concurrency 2)
    assert not (run_dir / "eval" / "report.md").exists()

    second = run_module("evaluation", *args)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    asked_again = [user_text(r["messages"]) for r in fake.requests[sent_before:]]
    prompts = {i["id"]: i["prompt"] for i in open_items(24)}
    assert sorted(asked_again) == sorted(prompts[i] for i in prompts if i not in done_before)
    assert set(cache_keys(cache)) == set(prompts)
    results = json.loads((run_dir / "eval" / "results.json").read_text())
    target = results["targets"][0]
    assert target["cached"] == len(done_before) and target["fresh"] == 24 - len(done_before)
    assert results["suites"]["sft"]["format"]["n"] == 24


@pytest.mark.slow
def test_retries_recover_from_5xx(tmp_path, serve_fake):
    fake, url = serve_fake(answer, fail_first=True)
    sets = write_items(tmp_path / "set.jsonl", open_items(3))
    args = eval_args(tmp_path / "run", [sets], [("sft", "five", url)], "eval.suites=[open]", "eval.retries=2")
    done = run_module("evaluation", *args)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(fake.requests) == 6                          # each prompt: 503, then the answer
    results = json.loads((tmp_path / "run" / "eval" / "results.json").read_text())
    assert results["suites"]["sft"]["open"]["n"] == 3


@pytest.mark.slow
def test_targets_are_evaluated_at_once_each_within_its_concurrency(tmp_path, serve_fake):
    fake, url = serve_fake(answer, delay_s=0.2)
    sets = write_items(tmp_path / "set.jsonl", open_items(6))
    args = eval_args(tmp_path / "run", [sets], [("base", "plain", url), ("sft", "five", url)],
                     "eval.suites=[open]", "eval.concurrency=2")
    done = run_module("evaluation", *args)
    assert done.returncode == 0, done.stderr[-2000:]
    # each target keeps its own bound; both are in flight together, so the server can batch them
    assert fake.most_in_flight["plain"] == 2 and fake.most_in_flight["five"] == 2
    assert fake.most_in_flight["all"] == 4


@pytest.mark.slow
def test_target_going_down_fails_clearly_and_keeps_partial_results(tmp_path, serve_fake):
    _, failing = serve_fake(answer, fail_after=5)
    _, healthy = serve_fake(answer)
    sets = write_items(tmp_path / "set.jsonl", open_items(12))
    dead = dead_url()
    args = eval_args(tmp_path / "run", [sets],
                     [("sft", "five", failing), ("gone", "five", dead), ("other", "plain", healthy)],
                     "eval.suites=[open,format]", "eval.retries=1", "eval.concurrency=1")
    done = run_module("evaluation", *args)
    assert done.returncode == 1
    assert f"target 'sft' (model 'five' at {failing})" in done.stderr and "HTTP 503" in done.stderr
    assert f"target 'gone' (model 'five' at {dead})" in done.stderr and "ConnectError" in done.stderr
    out = tmp_path / "run" / "eval"
    results = json.loads((out / "results.json").read_text())
    status = {t["name"]: t for t in results["targets"]}
    assert status["sft"]["status"] == "failed" and status["sft"]["cached"] + status["sft"]["fresh"] == 5
    assert status["gone"]["status"] == "failed" and status["other"]["status"] == "ok"
    assert results["suites"]["sft"]["coverage"] == {"items": 12, "answered": 5, "missing": 7}
    assert results["suites"]["other"]["format"]["n"] == 12 and "gone" not in results["suites"]
    report = (out / "report.md").read_text()
    assert "| sft |" in report and "| other |" in report and "failed: target 'gone'" in report
    assert len(Cache(out / "cache" / "sft.jsonl").entries) == 5


@pytest.mark.slow
def test_unknown_model_is_named_with_what_the_server_serves(tmp_path, serve_fake):
    _, url = serve_fake(answer)
    sets = write_items(tmp_path / "set.jsonl", open_items(2))
    done = run_module("evaluation", *eval_args(tmp_path / "run", [sets], [("sft", "med-lora", url)]))
    assert done.returncode == 1
    assert "does not serve this model; it serves plain, five, five-rag" in done.stderr


def test_unknown_suite_is_a_validation_error(tmp_path):
    done = run_module("evaluation", "recipes/quickstart.yaml", f"run_dir={tmp_path}", "eval.suites=[choice,speed]")
    assert done.returncode == 2
    assert "eval.suites.1" in done.stderr and "'serving'" in done.stderr
