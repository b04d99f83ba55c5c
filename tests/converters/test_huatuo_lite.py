"""Huatuo26M-Lite jsonl."""
from __future__ import annotations

from pathlib import Path

from converters import huatuo_lite
from converters.common import Example, Reject

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "huatuo_lite" / "huatuo26M_lite_sample.jsonl"


def split(items):
    items = list(items)
    return ([i for i in items if isinstance(i, Example)], [i for i in items if isinstance(i, Reject)])


def test_sample():
    examples, rejects = split(huatuo_lite.read(SAMPLE))
    assert [e.source for e in examples] == [f"huatuo26M_lite_sample.jsonl:{n}" for n in (1, 2, 3, 5)]
    assert [(r.line, r.reason) for r in rejects] == [(4, "missing or empty 'answer'")]
    first = examples[0]
    assert first.instruction == "孩子发烧38.5度需要马上吃退烧药吗？"
    assert first.output.startswith("一般体温超过38.5度") and first.input == ""
    assert first.meta == {"question": first.instruction, "subject": "儿科", "id": 101, "score": 5,
                          "related_diseases": "发热"}
    assert examples[3].meta["subject"] is None  # empty label


def test_bad_lines(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text('{"id": 1, "answer": "a"}\nnot json\n\n["x"]\n{"question": "q", "answer": "a"}\n', encoding="utf-8")
    examples, rejects = split(huatuo_lite.read(path))
    assert [(r.line, r.reason.split(":")[0]) for r in rejects] == [
        (1, "missing or empty 'question'"), (2, "bad JSON"), (4, "line is not a JSON object")]
    assert examples[0].meta == {"question": "q", "subject": None, "id": None, "score": None, "related_diseases": None}
