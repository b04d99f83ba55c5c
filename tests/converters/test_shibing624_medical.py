"""shibing624/medical finetune: alpaca-like JSON lines (or an array)."""
from __future__ import annotations

import json
from pathlib import Path

from converters import shibing624_medical
from converters.common import Example, Reject

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "shibing624_medical" / "finetune_sample.jsonl"


def split(items):
    items = list(items)
    return ([i for i in items if isinstance(i, Example)], [i for i in items if isinstance(i, Reject)])


def test_sample():
    examples, rejects = split(shibing624_medical.read(SAMPLE))
    assert [e.source for e in examples] == [f"finetune_sample.jsonl:{n}" for n in (1, 2, 3, 5)]
    assert [(r.line, r.reason) for r in rejects] == [(4, "missing or empty 'output'")]
    with_input = examples[1]
    assert with_input.to_alpaca() == {"instruction": "请根据症状给出可能的诊断。",
                                      "input": "男，30岁，右下腹疼痛一天，伴发热，麦氏点压痛。",
                                      "output": "急性阑尾炎可能性大，建议查血常规和腹部超声。"}
    assert examples[2].input == "" and examples[2].output == "可导致巨幼细胞性贫血和神经系统损害。"  # no input key
    assert all(e.meta == {} for e in examples)


def test_json_suffix_holding_lines_and_array(tmp_path):
    rows = [{"instruction": "i1", "input": None, "output": "o1"}, {"instruction": "i2", "input": 5, "output": "o2"}]
    lines = tmp_path / "train_zh_0.json"  # the real files: .json suffix, JSON lines inside
    lines.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    array = tmp_path / "array.json"
    array.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    for path in (lines, array):
        examples, rejects = split(shibing624_medical.read(path))
        assert [(e.instruction, e.input, e.output) for e in examples] == [("i1", "", "o1")]
        assert [(r.line, r.reason) for r in rejects] == [(2, "bad input: expected a string, got int")]
