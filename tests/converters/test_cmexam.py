"""CMExam CSV: newline-separated Options field, multi-letter answers, explanations."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from converters import cmexam
from converters.common import Example, Reject

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "cmexam" / "cmexam_sample.csv"
HEADER = ["Question", "Options", "Answer", "Explanation", "Disease Group", "Clinical Department",
          "Medical Discipline", "Competency", "Difficulty level"]


def split(items):
    items = list(items)
    return ([i for i in items if isinstance(i, Example)], [i for i in items if isinstance(i, Reject)])


def write(tmp_path: Path, rows, header=HEADER, bom=False) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path = tmp_path / "c.csv"
    path.write_text(("\ufeff" if bom else "") + buf.getvalue(), encoding="utf-8")
    return path


def test_sample_counts_lines_and_rejects():
    examples, rejects = split(cmexam.read(SAMPLE))
    assert [e.source for e in examples] == [f"cmexam_sample.csv:{n}" for n in (2, 6, 11, 20)]  # row-start lines
    assert [(r.line, r.reason.split(":")[0]) for r in rejects] == [(15, "bad options"),
                                                                   (16, "answer letters not among option keys")]
    assert rejects[1].reason == "answer letters not among option keys: 'E' not in ABCD"


def test_fields():
    examples, _ = split(cmexam.read(SAMPLE))
    first = examples[0]
    assert first.instruction.split("\n") == ["阿司匹林不具有的作用是", "A. 解热镇痛", "B. 抗炎抗风湿",
                                             "C. 抑制血小板聚集", "D. 降低血糖", cmexam.ASK]
    assert first.output == "答案：D\n解析：阿司匹林有解热、镇痛、抗炎和抗血小板作用，不用于降糖。"
    assert first.meta == {"question": "阿司匹林不具有的作用是",
                          "options": {"A": "解热镇痛", "B": "抗炎抗风湿", "C": "抑制血小板聚集", "D": "降低血糖"},
                          "answer": "D", "subject": "药理学", "disease_group": None,
                          "clinical_department": "心血管内科", "medical_discipline": "药理学",
                          "competency": "医学知识", "difficulty": "2"}
    multi = examples[1]  # "A、" separators, no Medical Discipline: subject falls back to the department
    assert multi.output.startswith("答案：ABD\n") and multi.meta["answer"] == "ABD"
    assert multi.meta["options"]["E"] == "肾上腺素" and multi.meta["subject"] == "心血管内科"
    assert examples[2].output == "答案：B"  # no explanation
    assert examples[2].meta["options"]["A"] == "生后24小时内"  # "A. " separator
    assert examples[3].meta["options"]["B"] == "低白蛋白血症 （血浆白蛋白低于30g/L）"  # continuation line


@pytest.mark.parametrize("text, expected", [
    ("A 甲\nB 乙", {"A": "甲", "B": "乙"}),
    ("A．甲\r\nB:乙\nC）丙", {"A": "甲", "B": "乙", "C": "丙"}),
    ("\nA  甲 \n\nB 乙\n", {"A": "甲", "B": "乙"}),
])
def test_parse_options(text, expected):
    assert cmexam.parse_options(text) == expected


@pytest.mark.parametrize("text, reason", [
    ("甲\nB 乙", "bad options: no option letter in '甲'"),
    ("A 甲\nA 乙", "bad options: duplicate option A"),
    ("A 甲", "bad options: 1 option(s) found"),
    ("A 甲\nB .", "bad options: option B has no text"),
])
def test_parse_options_errors(text, reason):
    with pytest.raises(ValueError) as err:
        cmexam.parse_options(text)
    assert str(err.value) == reason


def test_bom_nan_and_row_rejects(tmp_path):
    rows = [["题一", "A 甲\nB 乙", "b", "nan", "", "", "", "", ""],
            ["", "A 甲\nB 乙", "A", "", "", "", "", "", ""],
            ["题三", "A 甲\nB 乙", "", "", "", "", "", "", ""],
            ["题四", "A 甲\nB 乙", "A"]]
    path = write(tmp_path, rows, bom=True)
    examples, rejects = split(cmexam.read(path))
    assert [(e.output, e.meta["subject"]) for e in examples] == [("答案：B", None)]
    assert [(r.line, r.reason) for r in rejects] == [
        (4, "missing or empty 'Question'"), (6, "missing or empty 'Answer'"), (8, "bad row: expected 9 columns, got 3")]


def test_bad_header_and_bad_bytes(tmp_path):
    path = write(tmp_path, [["q", "A x\nB y", "A"]], header=["Q", "Options", "Answer"])
    assert [(r.line, r.reason) for r in cmexam.read(path)] == [(1, "bad header: missing column(s) Question")]
    path.write_bytes("Question,Options,Answer\n题,\"A 甲\nB 乙\",A\n".encode("utf-8") + b"\xff\xfe,\"A x\nB y\",A\n")
    examples, rejects = split(cmexam.read(path))
    assert len(examples) == 1
    assert [(r.line, r.reason.split(":")[0]) for r in rejects] == [(4, "not UTF-8")]
