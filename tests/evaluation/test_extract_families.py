"""The answer extractors on the blind batches of tests/evaluation/data/choice_families.yaml: one batch per
family of reply issue 24 found misread (reasoning blocks, replies cut off mid-reasoning, conflicting answers
and hedges, JSON, per-option verdict lists and tables, 即/全选/以上都是, an answer phrase followed by an
option's text, English paraphrases, yes/no/maybe taken back). Each batch was scored blind before the rules
were generalised (its `blind` field); each is now held to >= 95% (run with -s to see both). Then replies
that look like those families but must read otherwise (written after the rules: guards, not blind)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from evaluation.extract import extract_choice, extract_label

DATA = yaml.safe_load((Path(__file__).parent / "data" / "choice_families.yaml").read_text(encoding="utf-8"))
OPTIONS = DATA["options"]
BATCHES = DATA["batches"]


def read(case: dict):
    if case["options"] == "label":
        return extract_label(case["reply"])
    return extract_choice(case["reply"], OPTIONS[case["options"]])


@pytest.mark.parametrize("batch", BATCHES, ids=[b["name"] for b in BATCHES])
def test_blind_batch_accuracy(batch):
    cases = batch["cases"]
    wrong = [(c["reply"][:70], c["answer"], read(c)) for c in cases if read(c) != c["answer"]]
    print(f"\n{batch['name']}: {len(cases) - len(wrong)} of {len(cases)} now, {batch['blind']} blind")
    for reply, expected, got in wrong:
        print(f"  expected {expected!s:5s} got {got!s:5s} <- {reply!r}")
    assert batch["blind"], "a batch records its blind score"
    assert 1 - len(wrong) / len(cases) >= 0.95, wrong


def test_every_family_has_a_first_batch_of_fifteen():
    first = [b for b in BATCHES if "second batch" not in b["name"]]
    assert len(first) == 9
    assert all(len(b["cases"]) >= 15 for b in first)


STROKE = OPTIONS["stroke"]
THYROID = OPTIONS["thyroid"]


@pytest.mark.parametrize("reply,options,expected", [
    # a choice verb whose subject is someone else states no answer
    ("答案：B。很多同学会选C，但C是错误的。", STROKE, "B"),
    ("Answer: A. Many students pick D, but the gland is not tender.", THYROID, "A"),
    # a pair of options denied, or judged alike, is no hedge
    ("答案：A。B或C都不对。", STROKE, "A"),
    ("The choice between A and D hinges on tenderness; the gland is tender, so D.", THYROID, "D"),
    ("Answer: A. Actually, A is the only option with exophthalmos.", THYROID, "A"),
    ("Answer: A\n\nThe answer is not D because the gland is painless.", THYROID, "A"),
    # an option named and judged unlikely, or only part of two options, is no answer
    ("My answer: Graves disease is unlikely because the gland is tender.", THYROID, None),
    ("I would choose to start insulin.", OPTIONS["dka"], None),
    # a list that only describes the options judges none
    ("A. 单纯扩散：不耗能\nB. 钠-钾泵：耗能", {"A": "单纯扩散", "B": "钠-钾泵的主动转运", "C": "胞吐"}, None),
    # a last line that is an option's text alone is an answer, not a cut
    ("综合分析\n氨氯地平", {"A": "氢氯噻嗪", "B": "氨氯地平", "C": "卡托普利"}, "B"),
    # the reply of a reasoning model is the text after </think>; nothing after it, no answer
    ("<think>\n答案是B\n</think>\n\n", STROKE, None),
])
def test_look_alikes(reply, options, expected):
    assert extract_choice(reply, options) == expected


@pytest.mark.parametrize("reply,expected", [
    ("Yes. So no further trials are needed.", "yes"),          # "no" starts a phrase, not a conclusion
    ("Answer (yes/no/maybe): yes", "yes"),                   # the prompt echoed, then the answer
    ("<think>\nso the answer is yes", None),                 # cut off inside the reasoning block
])
def test_label_look_alikes(reply, expected):
    assert extract_label(reply) == expected
