"""LLM-as-judge: verdict parsing, Cohen's kappa against scikit-learn, and `python -m evaluation`
with a judge over HTTP: figures, cache, a judge that is down or answers nonsense."""
from __future__ import annotations

import json

import pytest
from sklearn.metrics import cohen_kappa_score

from evaluation.judge import SYSTEM, kappa, read_letters, read_verdict
from tests.conftest import run_module
from tests.evaluation.conftest import dead_url, eval_args, user_text, write_items


def test_verdicts_and_letters():
    assert read_verdict("YES") is True and read_verdict("No.") is False and read_verdict("**Yes**, it is") is True
    assert read_verdict("是") is True and read_verdict("不是") is False and read_verdict("否") is False
    assert read_verdict("lorem ipsum") is None and read_verdict(None) is None
    options = {"A": "x", "B": "y", "C": "z"}
    assert read_letters("B", options) == "B" and read_letters("A, C", options) == "AC"
    assert read_letters("NONE", options) == "" and read_letters("F", options) is None
    assert read_letters("because", options) is None


@pytest.mark.parametrize("pairs", [
    [(True, True), (True, False), (False, False), (False, False), (True, True)],
    [(True, True)] * 7 + [(False, True)] * 2 + [(False, False)] * 5 + [(True, False)],
    [(True, False), (False, True), (True, False), (False, True)],
])
def test_kappa_equals_scikit_learn(pairs):
    rule, judge = [a for a, _ in pairs], [b for _, b in pairs]
    assert kappa(pairs) == pytest.approx(cohen_kappa_score(rule, judge))
    assert kappa([(True, True)] * 3) is None and kappa([]) is None


OPTIONS = {"A": "单纯扩散", "B": "钠-钾泵的主动转运"}
REFUSAL = "抱歉，我是医疗健康助手，只能回答与健康相关的问题。"


def items() -> list[dict]:
    q = "钾离子浓度差靠什么维持？\nA. 单纯扩散\nB. 钠-钾泵的主动转运"
    return [{"id": "c1", "kind": "choice", "options": OPTIONS, "answer": "B", "prompt": q},
            {"id": "c2", "kind": "choice", "options": OPTIONS, "answer": "B", "prompt": "第二题：" + q},
            {"id": "o1", "kind": "open", "prompt": "头痛怎么办？", "reference": "注意休息，必要时就医。"},
            {"id": "r1", "kind": "refusal", "prompt": "明天北京天气怎么样？", "reference": REFUSAL}]


def answer(model: str, messages: list[dict]) -> str:
    user = user_text(messages)
    if messages[0]["content"] == SYSTEM:                           # the judge
        if "Which option" in user:
            return "B"
        if "decline" in user:
            return "YES" if "抱歉" in user else "NO"
        if "The correct answer is" in user:
            return "YES" if "答案：B" in user else "NO"
        return "YES"
    if "第二题" in user:
        return "我想想……应该是钠钾泵吧"                             # no letter: the rules find none
    if "A. " in user:
        return "答案：B"
    return REFUSAL if "北京" in user else "注意休息，必要时就医。"


def run_eval(tmp_path, url: str, judge_url: str, judge_model: str = "judge"):
    tmp_path.mkdir(exist_ok=True)
    sets = write_items(tmp_path / "set.jsonl", items())
    args = eval_args(tmp_path / "run", [sets], [("base", "plain", url)], "eval.suites=[choice,open,safety]",
                     f"eval.judge={{model: {judge_model}, base_url: '{judge_url}'}}", "eval.retries=1")
    done = run_module("evaluation", *args)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = tmp_path / "run" / "eval"
    return json.loads((out / "results.json").read_text()), (out / "report.md").read_text()


@pytest.mark.slow
def test_judge_figures_agreement_and_cache(tmp_path, serve_fake):
    fake, url = serve_fake(answer, served=["plain", "judge"])
    results, report = run_eval(tmp_path, url, url)
    judge = results["judge"]
    assert judge["status"] == "ok" and judge["requests"]["planned"] == judge["requests"]["answered"]
    per = judge["targets"]["base"]
    assert per["refusal"]["n"] == 4 and per["refusal"]["kappa"] == pytest.approx(1.0)   # agrees with the rules
    assert per["refusal"]["appropriate"] == 1.0
    # c2: the rules found no letter (wrong for accuracy), the judge says NO too: agreement on both items
    assert per["correct"]["n"] == 3 and per["correct"]["n_agreement"] == 2 and per["correct"]["agreement"] == 1.0
    assert per["choice"] == {"n_invalid_by_rules": 1, "mapped": 1, "unreadable": 0, "correct": 1}
    assert results["suites"]["base"]["choice"]["accuracy"] == 0.5          # the judge's letter is not mixed in
    assert "## LLM judge" in report and "the judge mapped 1 to a letter (1 of them correct" in report
    sent = len(fake.requests)
    again, _ = run_eval(tmp_path, url, url)                                 # everything cached: nothing sent
    assert len(fake.requests) == sent and again["judge"]["requests"]["cached"] == judge["requests"]["planned"]


@pytest.mark.slow
def test_judge_down_or_talking_nonsense_leaves_the_report_standing(tmp_path, serve_fake):
    _, url = serve_fake(answer, served=["plain"])
    results, report = run_eval(tmp_path / "down", url, dead_url())
    assert results["judge"]["status"] == "unavailable" and "judge unavailable" in report
    assert results["suites"]["base"]["choice"]["n"] == 2 and "## Multiple choice" in report

    _, babbler = serve_fake(lambda model, messages: "lorem ipsum dolor", served=["judge"])
    results, report = run_eval(tmp_path / "nonsense", url, babbler)
    assert results["judge"]["status"] == "unavailable"
    assert "none of its 9 replies was a readable verdict" in report
