"""The answer extractors on the labelled replies of tests/evaluation/data/choice_replies.yaml:
accuracy printed (run with -s to see it) and held to >= 97%; the audit's cases one by one;
bad input (1 MB, control characters) scored, not crashed on."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from evaluation.extract import extract_choice, extract_label

DATA = yaml.safe_load((Path(__file__).parent / "data" / "choice_replies.yaml").read_text(encoding="utf-8"))
OPTIONS = DATA["options"]


def read(case: dict):
    if case["options"] == "label":
        return extract_label(case["reply"])
    return extract_choice(case["reply"], OPTIONS[case["options"]])


def test_labelled_replies_accuracy():
    cases = DATA["cases"]
    wrong = [(c["reply"][:60], c["answer"], read(c)) for c in cases if read(c) != c["answer"]]
    n_label = sum(c["options"] == "label" for c in cases)
    accuracy = 1 - len(wrong) / len(cases)
    print(f"\nextraction: {len(cases) - len(wrong)}/{len(cases)} = {accuracy:.1%} "
          f"({len(cases) - n_label} choice, {n_label} yes/no/maybe replies)")
    for reply, expected, got in wrong:
        print(f"  expected {expected!s:5s} got {got!s:5s} <- {reply!r}")
    assert len(cases) >= 150
    assert accuracy >= 0.97, wrong


@pytest.mark.parametrize("reply,options,expected", [
    ("最终答案：**C**", "membrane", "C"),
    ("答案：**C**", "membrane", "C"),
    ("**答案**：C", "membrane", "C"),
    ("The answer is **B**.", "cocaine", "B"),
    ("答：B", "membrane", "B"),
    ("b", "membrane", "B"),
    ("the answer is (b)", "cocaine", "B"),
    ("The answers are A, B and D.", "features", "ABD"),
    ("该患者合并哮喘，不宜选用D美托洛尔，应选用B。", "asthma", "B"),
])
def test_audit_cases(reply, options, expected):
    assert extract_choice(reply, OPTIONS[options]) == expected


def test_lower_case_only_where_it_cannot_be_a_word():
    options = OPTIONS["cocaine"]
    assert extract_choice("the answer is a combination of factors", options) is None
    assert extract_choice("The answer is definitely not clear", options) is None
    assert extract_choice("answer: c", options) == "C"


def test_a_megabyte_reply_and_control_characters_are_scored():
    options = OPTIONS["membrane"]
    huge = "钠钾泵" + "很长的推理。" * 180_000 + "\n答案：B"          # ~1 MB of UTF-8 text
    started = time.perf_counter()
    assert extract_choice(huge, options) == "B"
    assert extract_label("x" * 1_000_000 + " Answer: yes") == "yes"
    assert time.perf_counter() - started < 5
    assert extract_choice("答案：\x00\x07B\x1b[0m\u200b", options) == "B"
    assert extract_choice("\x00" * 1000, options) is None
    assert extract_label("\ufeffYes\x00.") == "yes"
