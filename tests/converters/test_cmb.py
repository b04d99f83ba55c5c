"""CMB-Exam: singular `option`, multi-letter answers, question_type line."""
from __future__ import annotations

import json
from pathlib import Path

from converters import cmb
from converters.common import Example, Reject

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "cmb" / "cmb_sample.json"
ITEM = {"exam_type": "医师考试", "exam_class": "执业医师", "exam_subject": "临床执业医师", "question": "题干",
        "answer": "A", "question_type": "单项选择题", "option": {"A": "甲", "B": "乙", "C": "丙"}}


def split(items):
    items = list(items)
    return ([i for i in items if isinstance(i, Example)], [i for i in items if isinstance(i, Reject)])


def write(tmp_path: Path, *items) -> Path:
    path = tmp_path / "c.json"
    path.write_text(json.dumps(list(items), ensure_ascii=False), encoding="utf-8")
    return path


def test_sample_counts_and_rejects():
    examples, rejects = split(cmb.read(SAMPLE))
    assert [e.source for e in examples] == [f"cmb_sample.json:{n}" for n in (1, 2, 4, 5, 7)]
    assert [(r.line, r.reason) for r in rejects] == [
        (3, "answer letters not among option keys: 'F' not in ABCDE"), (6, "missing or empty 'option'")]


def test_single_choice_fields():
    first = next(iter(cmb.read(SAMPLE)))
    assert first.instruction.split("\n") == ["【单项选择题】", "急性心肌梗死最早升高的心肌损伤标志物是",
                                             "A. 乳酸脱氢酶",
                                             "B. 肌红蛋白", "C. 天冬氨酸氨基转移酶", "D. 碱性磷酸酶", "E. 淀粉酶",
                                             cmb.ASK_SINGLE]
    assert first.output == "答案：B"
    assert first.meta == {"question": "急性心肌梗死最早升高的心肌损伤标志物是",
                          "options": {"A": "乳酸脱氢酶", "B": "肌红蛋白", "C": "天冬氨酸氨基转移酶", "D": "碱性磷酸酶",
                                      "E": "淀粉酶"},
                          "answer": "B", "subject": "临床执业医师", "question_type": "单项选择题",
                          "exam_type": "医师考试", "exam_class": "执业医师"}


def test_multiple_answers():
    examples, _ = split(cmb.read(SAMPLE))
    multi, separated = examples[1], examples[3]
    assert multi.output == "答案：ACD" and multi.meta["answer"] == "ACD"
    assert multi.instruction.startswith("【多项选择题】\n") and multi.instruction.endswith(cmb.ASK_MULTI)
    assert separated.output == "答案：AD"  # "A, D" in the source
    assert list(examples[2].meta["options"]) == ["A", "B", "C", "D"]  # empty option E left out


def test_answer_normalisation_and_rejects(tmp_path):
    path = write(tmp_path,
                 {**ITEM, "answer": "ca", "question_type": "多项选择题"},
                 {**ITEM, "answer": "AB"},
                 {**ITEM, "answer": ""},
                 {**ITEM, "answer": "答A"},
                 {**ITEM, "option": {"a": "甲", "B": "乙"}},
                 {**ITEM, "option": {"A": "甲", "B": ""}},
                 {**ITEM, "question": None},
                 {**ITEM, "question_type": None})
    examples, rejects = split(cmb.read(path))
    assert [(r.line, r.reason.split(":")[0]) for r in rejects] == [
        (2, "multiple answers for a single-choice question"), (3, "missing or empty 'answer'"),
        (4, "bad answer"), (5, "bad options"), (6, "bad options"), (7, "missing or empty 'question'")]
    assert examples[0].output == "答案：AC"  # lower case, option order
    assert examples[1].instruction.split("\n")[0] == "题干" and examples[1].meta["question_type"] is None


def test_jsonl_input(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(ITEM, ensure_ascii=False) + "\n", encoding="utf-8")
    examples, rejects = split(cmb.read(path))
    assert (len(examples), rejects, examples[0].source) == (1, [], "c.jsonl:1")
