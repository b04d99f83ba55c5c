"""MedQA converter: jind11 dict options and the bigbio list-of-{key,value} variant."""
from __future__ import annotations

import json
from pathlib import Path

from converters import medqa
from converters.common import Example, Reject

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples" / "medqa"


def split(items):
    items = list(items)
    return ([i for i in items if isinstance(i, Example)], [i for i in items if isinstance(i, Reject)])


def write_lines(tmp_path: Path, *rows) -> Path:
    path = tmp_path / "q.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n"
                            for r in rows), encoding="utf-8")
    return path


ROW = {"question": "胰岛素的主要生理作用是（　　）。",
       "options": {"A": "升高血糖", "B": "降低血糖", "C": "促进脂肪分解", "D": "促进糖异生", "E": "抑制蛋白质合成"},
       "answer": "降低血糖", "meta_info": "第一部分　基础医学综合", "answer_idx": "B"}


def test_mainland_sample_counts_and_rejects():
    examples, rejects = split(medqa.read(SAMPLES / "mainland_sample.jsonl"))
    assert len(examples) == 12
    assert [(r.line, r.reason.split(":")[0]) for r in rejects] == [
        (5, "bad JSON"), (10, "answer_idx not among option keys")]
    assert "'F'" in rejects[1].reason and rejects[1].file.endswith("mainland_sample.jsonl")
    assert all(r.raw for r in rejects)
    assert [e.source for e in examples][:5] == [f"mainland_sample.jsonl:{n}" for n in (1, 2, 3, 4, 6)]


def test_answer_formatting():
    first = next(iter(medqa.read(SAMPLES / "mainland_sample.jsonl")))
    lines = first.instruction.split("\n")
    assert lines[0] == "维持细胞内外钾离子浓度差的主要机制是（　　）。"  # full-width blank kept
    assert lines[1:6] == ["A. 单纯扩散", "B. 钠-钾泵的主动转运", "C. 通道介导的易化扩散",
                          "D. 载体介导的易化扩散", "E. 胞吐作用"]
    assert lines[6] == medqa.ASK_ZH and "选项字母" in lines[6]
    assert first.output == "答案：B. 钠-钾泵的主动转运"
    assert first.meta == {"question": lines[0], "options": dict(l.split(". ", 1) for l in lines[1:6]),
                          "answer": "B", "subject": "第一部分　基础医学综合",
                          "answer_idx": "B", "meta_info": "第一部分　基础医学综合"}
    assert first.to_alpaca() == {"instruction": first.instruction, "input": "", "output": first.output}


def test_bigbio_list_options():
    examples, rejects = split(medqa.read(SAMPLES / "bigbio_sample.jsonl"))
    assert (len(examples), len(rejects)) == (3, 0)
    assert examples[1].output == "答案：B. 胸部CT"
    assert "\nB. 胸部CT\n" in examples[1].instruction
    english = examples[2]
    assert english.output == "Answer: C. Vitamin C"
    assert english.instruction.endswith(medqa.ASK_EN) and "C. Vitamin C" in english.instruction


def test_inconsistent_answer_text_is_rejected(tmp_path):
    path = write_lines(tmp_path, ROW, {**ROW, "answer": "升高血糖"})
    examples, rejects = split(medqa.read(path))
    assert len(examples) == 1
    assert rejects[0].line == 2 and rejects[0].reason.startswith("answer text inconsistent with option")


def test_whitespace_differences_are_not_inconsistent(tmp_path):
    path = write_lines(tmp_path, {**ROW, "answer": " 降低 血糖\u3000"})
    examples, rejects = split(medqa.read(path))
    assert (len(examples), rejects) == (1, [])


def test_letter_recovered_from_answer_text(tmp_path):
    row = {k: v for k, v in ROW.items() if k != "answer_idx"}
    examples, _ = split(medqa.read(write_lines(tmp_path, row)))
    assert examples[0].output == "答案：B. 降低血糖" and examples[0].meta["answer_idx"] == "B"


def test_missing_fields_and_bad_options(tmp_path):
    path = write_lines(
        tmp_path,
        {**ROW, "question": "  "},
        {k: v for k, v in ROW.items() if k != "options"},
        {**ROW, "options": [{"key": "A", "value": "x"}, {"key": "A", "value": "y"}]},
        {**ROW, "options": {"A": "升高血糖", "B": ""}},
        {k: v for k, v in ROW.items() if k not in ("answer", "answer_idx")},
        "[1, 2]",
    )
    examples, rejects = split(medqa.read(path))
    assert examples == []
    assert [(r.line, r.reason) for r in rejects] == [
        (1, "missing or empty 'question'"),
        (2, "missing or empty 'options'"),
        (3, "bad options: duplicate option key 'A'"),
        (4, "bad options: option B has no text"),
        (5, "missing 'answer_idx' and 'answer'"),
        (6, "line is not a JSON object"),
    ]
