"""Malformed evaluation lines go to rejects with file, line and reason; the rest is kept."""
from __future__ import annotations

import json

from evaluation.items import load

GOOD = {"id": "q1", "kind": "choice", "prompt": "题目\nA. 甲\nB. 乙", "options": {"A": "甲", "B": "乙"}, "answer": "B",
        "reference": "答案：B"}


def test_rejects_name_file_line_and_reason(tmp_path):
    lines = [json.dumps(GOOD, ensure_ascii=False),
             "{not json",
             json.dumps({**GOOD, "id": "q2", "kind": "essay"}),
             json.dumps({**GOOD, "id": "q3", "answer": "C"}),
             "",
             json.dumps({**GOOD, "id": "q4", "prompt": ""}),
             json.dumps({"id": "q5", "kind": "label", "prompt": "Is it?", "answer": "perhaps"}),
             json.dumps(GOOD),                                       # duplicate id
             json.dumps({"id": "q6", "kind": "open", "prompt": "头痛怎么办？", "reference": "休息。"}),
             json.dumps(["a list"]),
             json.dumps({**GOOD, "id": "q7", "options": {"A": "", "B": "乙"}})]
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    items, rejects = load([path])
    assert [i["id"] for i in items] == ["q1", "q6"]
    assert items[1]["dataset"] == "set" and items[1]["source"] == "set.jsonl:9"
    found = {r.line: r.reason for r in rejects}
    assert all(r.file == str(path) for r in rejects)
    assert "bad JSON" in found[2]
    assert "kind 'essay'" in found[3]
    assert "'C' is not made of option letters AB" in found[4]
    assert "prompt" in found[6]
    assert "is not one of yes, no, maybe" in found[7]
    assert "duplicate id 'q1'" in found[8]
    assert "not a JSON object" in found[10]
    assert "bad options" in found[11]
    assert len(rejects) == 8


def test_limit_keeps_the_first_items_of_each_file(tmp_path):
    for name in ("a", "b"):
        rows = [{"id": f"{name}{i}", "kind": "open", "prompt": f"问题{i}", "reference": "答"} for i in range(5)]
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    items, _ = load([tmp_path / "a.jsonl", tmp_path / "b.jsonl"], limit=2)
    assert [i["id"] for i in items] == ["a0", "a1", "b0", "b1"]
