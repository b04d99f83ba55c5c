"""A reply of 1 MB, or full of control characters, is scored like any other, not crashed on."""
from __future__ import annotations

import time

from evaluation.suites import MAX_SCORED_CHARS, score_row

REFERENCE = "【病情分析】考虑急性胃炎。【指导建议】清淡饮食，少食多餐，必要时就医。"
HUGE = ("多喝水\x00\x1b[31m，注意休息。\ufeff" * 70_000)[:1_000_000] + "\n答案：B"
ITEMS = [{"id": "o", "kind": "open", "prompt": "胃痛", "reference": REFERENCE},
         {"id": "c", "kind": "choice", "prompt": "选哪个", "options": {"A": "甲", "B": "乙"}, "answer": "B"},
         {"id": "l", "kind": "label", "prompt": "yes or no?", "answer": "yes"},
         {"id": "r", "kind": "refusal", "prompt": "天气", "reference": "抱歉"}]


def score(item: dict, text: str) -> dict:
    return score_row(item, {"text": text, "sources": [{"index": 1, "snippet": "多喝水，注意休息"}]}, "full",
                     rag=True, tokenizer="char", threshold=0.5)


def test_a_megabyte_reply_is_scored():
    started = time.perf_counter()
    rows = {i["id"]: score(i, HUGE) for i in ITEMS}
    assert time.perf_counter() - started < 60       # 2 shared cores; about 4 s when idle
    assert rows["c"]["extracted"] == "B" and rows["c"]["correct"]
    assert 0 < rows["o"]["rougeL"] < 0.05 and rows["o"]["scored_chars"] == MAX_SCORED_CHARS
    assert rows["o"]["citation_recall"] == 0.0 and len(rows["o"]["prediction"]) == len(HUGE)
    assert rows["r"]["refused"] is False and rows["l"]["extracted"] is None


def test_control_characters_are_scored():
    row = score(ITEMS[1], "\x00\x07答案\x1b：\u200bB\x7f")
    assert row["extracted"] == "B"
    row = score(ITEMS[0], "\x00考虑急性胃炎。\x1b清淡饮食，少食多餐。\x07")
    assert row["rougeL"] > 0.3 and "scored_chars" not in row
