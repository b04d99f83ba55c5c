"""Toyhom dialogue CSV: GB18030 detection, quoted commas/newlines, row-start line numbers."""
from __future__ import annotations

from pathlib import Path

from converters import dialogue_csv
from converters.common import Example, Reject

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "dialogue_csv" / "内科5000-33000.csv"
HEADER = "department,title,ask,answer\n"


def split(items):
    items = list(items)
    return ([i for i in items if isinstance(i, Example)], [i for i in items if isinstance(i, Reject)])


def test_sample_is_gb18030_not_utf8_or_gbk():
    raw = SAMPLE.read_bytes()
    assert dialogue_csv.detect_encoding(SAMPLE) == "gb18030"
    for codec in ("utf-8", "gbk"):  # the emoji needs GB18030's four-byte form
        try:
            raw.decode(codec)
        except UnicodeDecodeError:
            continue
        raise AssertionError(f"sample unexpectedly decodes as {codec}")


def test_sample_records_and_reject():
    examples, rejects = split(dialogue_csv.read(SAMPLE))
    assert len(examples) == 6
    assert [e.source for e in examples] == [f"内科5000-33000.csv:{n}" for n in (2, 3, 6, 7, 9, 10)]
    assert [(r.line, r.reason) for r in rejects] == [(8, "bad row: expected 4 columns, got 3")]
    assert rejects[0].raw == "神经内科,头晕,最近总是头晕"
    first = examples[0]
    assert first.instruction == "我有高血压三年了，平时能不能每天吃一个鸡蛋？"
    assert first.output.startswith("高血压本身并不限制吃鸡蛋")
    assert first.meta == {"question": first.instruction, "subject": "心血管科", "title": "高血压患者能吃鸡蛋吗"}
    assert "🙂" in examples[3].instruction  # decoded from GB18030 four-byte sequence


def test_quoted_commas_and_newlines():
    examples, _ = split(dialogue_csv.read(SAMPLE))
    multiline = examples[1]
    assert multiline.instruction == "空腹血糖6.5，餐后9点多，需要吃药吗？\n平时不太运动。"
    assert multiline.output == ("这个数值已经超过正常范围，建议先到医院复查糖化血红蛋白，\n"
                                "同时控制饮食、增加运动，是否用药由医生评估。")
    assert examples[2].instruction == "饭后胃胀，打嗝, 有时反酸，这是胃炎吗？"  # ASCII comma inside quotes
    assert examples[4].meta["title"] == "心慌,胸闷"


def test_utf8_with_bom_question_alias_and_empty_fields(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("\ufeffdepartment,title,question,answer\n"
                    "儿科,发烧,孩子发烧怎么办,多喝水\n"
                    "儿科,,  ,回答\n"
                    "\n"
                    ",无科室,问题,\"\"\n"
                    ",无科室,问题,回答\n", encoding="utf-8")
    assert dialogue_csv.detect_encoding(path) == "utf-8-sig"
    examples, rejects = split(dialogue_csv.read(path))
    assert [(e.instruction, e.output, e.meta["subject"], e.source) for e in examples] == [
        ("孩子发烧怎么办", "多喝水", "儿科", "d.csv:2"), ("问题", "回答", None, "d.csv:6")]
    assert [(r.line, r.reason) for r in rejects] == [(3, "missing or empty 'ask'"), (5, "missing or empty 'answer'")]


def test_undecodable_file_and_bad_header(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(HEADER.encode() + b"a,b,c,\xff\xff\n")
    assert dialogue_csv.detect_encoding(bad) is None
    assert [(r.line, r.reason.split(":")[0]) for r in dialogue_csv.read(bad)] == [(0, "undecodable file")]
    header = tmp_path / "header.csv"
    header.write_text("科室,标题,问,答\n内科,t,q,a\n", encoding="gb18030")
    rejects = list(dialogue_csv.read(header))
    assert [(r.line, r.reason) for r in rejects] == [
        (1, "bad header: missing column(s) department, title, ask, answer")]
