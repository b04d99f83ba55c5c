"""huatuo_encyclopedia_qa: nested question groups aligned with answers."""
from __future__ import annotations

import json
from pathlib import Path

from converters import huatuo_encyclopedia
from converters.common import Example, Reject

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "huatuo_encyclopedia" / "encyclopedia_sample.jsonl"


def split(items):
    items = list(items)
    return ([i for i in items if isinstance(i, Example)], [i for i in items if isinstance(i, Reject)])


def test_sample_groups_and_variants():
    examples, rejects = split(huatuo_encyclopedia.read(SAMPLE))
    assert [(e.source, e.meta["group"]) for e in examples] == [
        ("encyclopedia_sample.jsonl:1", 1), ("encyclopedia_sample.jsonl:2", 1),
        ("encyclopedia_sample.jsonl:2", 2), ("encyclopedia_sample.jsonl:4", 1)]
    first = examples[0]
    assert first.instruction == "缺铁性贫血有哪些表现？"
    assert first.output == "常见乏力、面色苍白、头晕，严重时可有心悸、指甲变脆。"
    assert first.meta == {"question": "缺铁性贫血有哪些表现？", "question_variants": ["缺铁性贫血会出现什么症状？"],
                          "group": 1}
    gout, diet = examples[1], examples[2]
    assert gout.meta["question_variants"] == ["痛风是怎么引起的？"]  # repeat of the first phrasing dropped
    assert (diet.instruction, diet.output) == ("痛风患者饮食要注意什么？", "少吃动物内脏和海鲜，限制饮酒，多饮水。")
    assert diet.meta["question_variants"] == []
    assert [(r.line, r.reason.split(":")[0]) for r in rejects] == [(3, "misaligned row"), (5, "bad questions")]
    assert rejects[0].reason == "misaligned row: 2 question groups, 1 answers"


def test_malformed_rows(tmp_path):
    rows = [
        {"questions": [["q"]], "answers": "a"},
        {"questions": [[]], "answers": ["a"]},
        {"questions": [["q", 3]], "answers": ["a"]},
        {"questions": [["q"], ["  ", "v"]], "answers": ["a", "b"]},
        {"questions": [["q"]], "answers": [" "]},
        {"answers": ["a"]},
        {"questions": [[" q ", " v "]], "answers": [" a "]},
    ]
    path = tmp_path / "e.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    examples, rejects = split(huatuo_encyclopedia.read(path))
    assert [(r.line, r.reason.split(":")[0]) for r in rejects] == [
        (1, "bad answers"), (2, "bad questions"), (3, "bad questions"), (4, "empty question"),
        (5, "empty answer"), (6, "bad questions")]
    assert rejects[3].reason == "empty question: in group 2"
    assert [(e.instruction, e.output, e.meta["question_variants"]) for e in examples] == [("q", "a", ["v"])]
