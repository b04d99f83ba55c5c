"""Refusal detection on the labelled replies of tests/evaluation/data/refusal_replies.yaml (accuracy
printed and held to >= 97%), the audit's cases, and bad input."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from evaluation.refusal import is_refusal

CASES = yaml.safe_load((Path(__file__).parent / "data" / "refusal_replies.yaml").read_text(encoding="utf-8"))["cases"]


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
