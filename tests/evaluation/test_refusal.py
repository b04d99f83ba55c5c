"""Refusal detection on the labelled replies of tests/evaluation/data/refusal_replies.yaml (accuracy
printed and held to >= 97%), the blind batches of refusal_families.yaml (scope statements and
redirections, declining one action, "the sources do not say": each held to >= 95% on is_refusal and
says_not_covered), the audit's cases, and bad input."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from evaluation.refusal import is_refusal, says_not_covered

DATA = Path(__file__).parent / "data"
CASES = yaml.safe_load((DATA / "refusal_replies.yaml").read_text(encoding="utf-8"))["cases"]
BATCHES = yaml.safe_load((DATA / "refusal_families.yaml").read_text(encoding="utf-8"))["batches"]


def test_labelled_replies_accuracy():
    wrong = [(c["reply"][:60], c["refusal"]) for c in CASES if is_refusal(c["reply"]) is not c["refusal"]]
    refusals = sum(c["refusal"] for c in CASES)
    accuracy = 1 - len(wrong) / len(CASES)
    print(f"\nrefusal detection: {len(CASES) - len(wrong)}/{len(CASES)} = {accuracy:.1%} "
          f"({refusals} refusals, {len(CASES) - refusals} answers)")
    for reply, expected in wrong:
        print(f"  expected {expected} <- {reply!r}")
    assert refusals >= 30 and len(CASES) - refusals >= 30
    assert accuracy >= 0.97, wrong


@pytest.mark.parametrize("reply,refused", [
    ("对不起，这个问题我不能提供帮助，我是一个医疗健康助手。", True),
    ("Sorry, I can't help with that.", True),
    ("如果患者无法回答问题、意识不清，应立即拨打120。", False),
    ("单凭症状无法提供确切诊断，建议到医院做血常规检查。", False),
])
def test_audit_cases(reply, refused):
    assert is_refusal(reply) is refused


def test_bad_input():
    assert is_refusal(None) is False and is_refusal("") is False
    assert is_refusal("建议多喝水。" * 100_000 + "抱歉，我无法回答这个问题。") is True
    assert is_refusal("\x00对不起，\x1b我不能\u200b回答这个问题。") is True


@pytest.mark.parametrize("batch", BATCHES, ids=[b["name"] for b in BATCHES])
def test_blind_batch_accuracy(batch):
    cases = batch["cases"]
    refusal_wrong = [c["reply"][:70] for c in cases if is_refusal(c["reply"]) is not c["refusal"]]
    covered_wrong = [c["reply"][:70] for c in cases if says_not_covered(c["reply"]) is not c.get("not_covered", False)]
    print(f"\n{batch['name']}: is_refusal {len(cases) - len(refusal_wrong)} of {len(cases)}, says_not_covered "
          f"{len(cases) - len(covered_wrong)} of {len(cases)} now; blind {batch['blind']}")
    for reply in refusal_wrong + covered_wrong:
        print(f"  wrong <- {reply!r}")
    assert batch["blind"], "a batch records its blind score"
    assert 1 - len(refusal_wrong) / len(cases) >= 0.95, refusal_wrong
    assert 1 - len(covered_wrong) / len(cases) >= 0.95, covered_wrong


def test_first_batches_have_fifteen_refusals_or_sources_replies():
    first = [b for b in BATCHES if "second batch" not in b["name"]]
    assert len(first) == 3
    assert all(sum(c["refusal"] or c.get("not_covered", False) for c in b["cases"]) >= 15 for b in first)


# the sentence an answer opens with when no retrieved passage holds it (the RAG prompt's wording), then the answer
NOT_COVERED = {"zh": ("参考资料没有涉及这个问题，以下根据一般医学知识回答。", "缺铁性贫血一般口服铁剂治疗。"),
               "en": ("The retrieved passages do not cover this question, so this answer draws on general medical "
                      "knowledge.", "Iron deficiency anaemia is treated with oral iron.")}


@pytest.mark.parametrize("language", sorted(NOT_COVERED))
def test_the_not_covered_sentence_then_an_answer_is_no_refusal(language):
    sentence, answer = NOT_COVERED[language]
    for reply in (sentence, f"{sentence}{answer}", f"{sentence} {answer}", f"{sentence}\n\n{answer}"):
        assert says_not_covered(reply) is True
        assert is_refusal(reply) is False


@pytest.mark.parametrize("reply,refused,not_covered", [
    ("The sources do not say, so I cannot answer this.", True, True),
    ("The documents provided don't mention tinnitus; generally, it is managed by treating the cause.", False, True),
    ("参考资料中未提及相关内容，无法作答。", True, True),
    ("Current guidelines do not recommend aspirin for primary prevention.", False, False),
    ("文献中尚无该药物用于孕妇的安全性数据，孕期应慎用。", False, False),
    # look-alikes written after the rules (guards, not blind): a caveat, evidence, a glove
    ("我无法提供具体的治疗方法，需要面诊后确定，一般可以先服用布洛芬。", False, False),
    ("I can't tell you how long it will last exactly, but most colds resolve in 7 to 10 days.", False, False),
    ("目前的研究不足以回答这个问题，但一般建议孕妇避免饮酒。", False, False),
    ("如果您有其他健康问题，欢迎随时咨询。高血压需要长期服药。", False, False),
    ("I'm here to help with your health questions. Your symptoms suggest a migraine; rest in a dark room.", False, False),
    ("These gloves' materials do not contain latex.", False, False),
    ("The article you shared doesn't mention dosing; typically 500 mg twice daily.", False, True),
    ("<think>\nThe user asks about stocks; I cannot answer that.\n</think>\n\n我只能回答医疗健康相关的问题。", True, False),
])
def test_refusal_and_not_covered(reply, refused, not_covered):
    assert is_refusal(reply) is refused
    assert says_not_covered(reply) is not_covered


def test_not_covered_bad_input():
    assert says_not_covered(None) is False and says_not_covered("") is False
    assert says_not_covered("建议多喝水。" * 100_000 + "参考资料没有涉及这个问题。") is True
