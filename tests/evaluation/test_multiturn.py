"""The multi-turn suite: turns answered in order with the target's own earlier answers, scored per turn."""
from __future__ import annotations

import json

import pytest
from fastapi import FastAPI, Request as HTTPRequest

from core.errors import StageFailed
from evaluation import multiturn
from evaluation.runner import Runner, Target
from tests.conftest import ROOT, Served

SAMPLE = ROOT / "data/samples/multiturn/consultations_zh.jsonl"
HEADERS = "【病情分析】a【指导建议】b【药物说明】c【风险提示】d【免责声明】e"


@pytest.fixture(scope="module")
def echo_server():
    """Answers with the number of messages it got and the last user text; records every body."""
    seen: list[dict] = []
    app = FastAPI()

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": "m", "object": "model"}]}

    @app.post("/v1/chat/completions")
    async def chat(request: HTTPRequest):
        body = await request.json()
        seen.append(body)
        last = body["messages"][-1]["content"]
        text = f"{len(body['messages'])}:{last}" + ("你几岁？" if len(body["messages"]) == 1 else "")
        return {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}

    served = Served(app, "/v1")
    served.seen = seen
    yield served
    served.stop()


def test_turns_carry_the_targets_own_answers_and_resume_from_the_cache(echo_server, tmp_path):
    items = multiturn.load(SAMPLE)
    runner = Runner(tmp_path, concurrency=4, progress=False, retries=0)
    target = Target("t", "m", echo_server.url)
    answers, down = multiturn.answer_all(runner, [target], items)["t"]
    assert down is None
    cough = answers["mt-cough"]
    assert cough[0].startswith("1:咳嗽一直不好") and cough[2].startswith("5:需要拍胸片吗")
    third = [b for b in echo_server.seen if b["messages"][-1]["content"] == "需要拍胸片吗？"][0]["messages"]
    assert [m["role"] for m in third] == ["user", "assistant", "user", "assistant", "user"]
    assert third[1]["content"] == cough[0] and third[3]["content"] == cough[1]  # its own answers, not references
    sent = len(echo_server.seen)
    assert multiturn.answer_all(runner, [target], items)["t"][0] == answers and len(echo_server.seen) == sent  # cached


def test_scores_per_turn_and_asking_back():
    items = [{"id": "a", "turns": [{"user": "q1", "reference": "一二三"}, {"user": "q2", "reference": "四五"}],
              "missing": ["age"]},
             {"id": "b", "turns": [{"user": "q1", "reference": ""}], "missing": ["duration"]}]
    answers = {"a": ["一二三。请问孩子几岁？", HEADERS], "b": ["多喝水。"]}
    result = multiturn.score(items, answers)
    first, second = result["per_turn"]
    assert first["answered"] == 2 and first["rouge_l"] == pytest.approx(multiturn.rouge("一二三", answers["a"][0])["rougeL"])
    assert first["five_sections"] == 0 and second["five_sections"] == 1 and second["rouge_l"] == 0.0
    assert result["asks_back"] == 0.5 and result["asks_back_items"] == 2 and result["complete"] == 2
    assert multiturn.asks_back("How old is your child?", ["age"])
    assert not multiturn.asks_back("孩子几岁都可以吃。", ["age"])        # no question asked
    assert not multiturn.asks_back("疼了多久？", ["age"])                # asks, but about another fact


def test_consistency_requests_only_for_finished_conversations():
    items = multiturn.load(SAMPLE)
    answers = {i["id"]: [f"a{k}" for k in range(len(i["turns"]))] for i in items}
    answers["mt-headache"] = answers["mt-headache"][:1]  # unfinished: not judged
    requests = multiturn.consistency_requests("sft", items, answers)
    assert sorted(r.item_id for r in requests) == ["sft/mt-cough", "sft/mt-fever-child", "sft/mt-ibuprofen"]
    prompt = [r for r in requests if r.item_id == "sft/mt-cough"][0].messages[1]["content"]
    assert "Patient: 咳嗽一直不好，要紧吗？\nAssistant: a0" in prompt and "Final reply of the assistant:\na2" in prompt
    assert multiturn.judged_share(["YES", "no", "maybe"]) == 0.5


@pytest.mark.parametrize("line, message", [
    ("not json", "not JSON"),
    (json.dumps({"id": "x", "turns": []}), "non-empty list 'turns'"),
    (json.dumps({"id": "x", "turns": [{"user": " "}]}), "turn 1 needs a non-empty 'user'"),
    (json.dumps({"id": "x", "turns": [{"user": "q"}], "missing": ["weight"]}), "'missing' may list"),
])
def test_bad_items_name_the_file_and_line(tmp_path, line, message):
    path = tmp_path / "mt.jsonl"
    path.write_text(json.dumps({"id": "ok", "turns": [{"user": "q"}]}) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(StageFailed, match=f"{path}:2: .*{message}"):
        multiturn.load(path)


# --- wired into `make eval` (python -m evaluation), against a fake OpenAI server -------------------------

def consult(model: str, messages: list[dict]) -> str:
    """Targets ask back on a first message and answer in five sections later; the judge says YES."""
    from evaluation.judge import SYSTEM as JUDGE
    if messages[0]["content"] == JUDGE:
        return "YES" if "Final reply" in messages[-1]["content"] else "NO"
    if sum(m["role"] == "user" for m in messages) == 1 and "咳嗽" not in messages[-1]["content"]:
        return "请问孩子几岁？发烧多久了？"
    return HEADERS


def run_eval(tmp_path, url, *extra):
    from tests.conftest import run_module
    from tests.evaluation.conftest import eval_args, write_items
    tmp_path.mkdir(exist_ok=True)
    sets = write_items(tmp_path / "set.jsonl", [{"id": "o1", "kind": "open", "prompt": "头痛怎么办？",
                                                 "reference": "注意休息。"}])
    args = eval_args(tmp_path / "run", [sets], [("sft", "five", url), ("sft+rag", "five-rag", url)],
                     "eval.suites=[open,multiturn]", "eval.retries=0", *extra)
    done = run_module("evaluation", *args)
    out = tmp_path / "run" / "eval"
    results = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else None
    return done, results, (out / "report.md").read_text() if results else ""


@pytest.mark.slow
def test_make_eval_runs_the_multiturn_suite_per_target_with_the_judge(tmp_path, serve_fake):
    fake, url = serve_fake(consult, served=["five", "five-rag", "judge"])
    done, results, report = run_eval(tmp_path, url, f"eval.multiturn={SAMPLE}",
                                     f"eval.judge={{model: judge, base_url: '{url}'}}")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    found = results["multiturn"]
    assert found["items"] == 4 and set(found["targets"]) == {"sft", "sft+rag"}
    rag = found["targets"]["sft+rag"]
    assert rag["complete"] == 4 and [t["turn"] for t in rag["per_turn"]] == [1, 2, 3]
    assert rag["per_turn"][1]["five_sections"] == 1.0 and rag["per_turn"][0]["five_sections"] < 1.0
    assert rag["asks_back"] == pytest.approx(2 / 3) and rag["asks_back_items"] == 3  # the cough item: no question
    assert rag["consistent"] == 1.0 and rag["consistent_n"] == 4 and found["judge"]["status"] == "ok"
    # the gateway's -rag model got whole conversations: its own earlier answer, then the follow-up
    follow_ups = [r for r in fake.requests if r["model"] == "five-rag" and len(r["messages"]) > 2]
    assert follow_ups and follow_ups[0]["messages"][-2]["role"] == "assistant"
    assert "## Multi-turn consultations" in report and "| sft+rag | 2 | 4 | 6.0 | 100.0 |" in report
    sent = len(fake.requests)
    again, _, _ = run_eval(tmp_path, url, f"eval.multiturn={SAMPLE}", f"eval.judge={{model: judge, base_url: '{url}'}}")
    assert again.returncode == 0 and len(fake.requests) == sent  # every turn and verdict came from the cache


@pytest.mark.slow
def test_without_a_multiturn_file_the_suite_is_skipped_with_a_note_and_bad_items_exit_2(tmp_path, serve_fake):
    _, url = serve_fake(consult, served=["five", "five-rag"])
    done, results, report = run_eval(tmp_path / "none", url)
    assert done.returncode == 0 and results["multiturn"] is None
    assert "multiturn: skipped (set eval.multiturn" in report and "## Multi-turn consultations" not in report
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "turns": []}\n', encoding="utf-8")
    done, _, _ = run_eval(tmp_path / "bad", url, f"eval.multiturn={bad}")
    assert done.returncode == 2 and f"eval.multiturn: {bad}:1: a multi-turn item needs" in done.stderr
