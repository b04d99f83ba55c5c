"""Toyhom dialogue CSV: encodings per row, quoted commas/newlines, the title as the question."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from converters import dialogue_csv
from converters.common import Example, Reject
from converters.encoding import legacy_encoding

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
SAMPLE = SAMPLES / "dialogue_csv" / "内科5000-33000.csv"
REAL = SAMPLES / "dialogue_csv_real" / "儿科内科5-14000.csv"
HEADER = "department,title,ask,answer\n"


def split(items):
    items = list(items)
    return ([i for i in items if isinstance(i, Example)], [i for i in items if isinstance(i, Reject)])


def source_rows(path: Path, encoding: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode(encoding), newline="")))[1:]


def test_sample_is_gb18030_and_every_text_comes_through_intact():
    raw = SAMPLE.read_bytes()
    assert legacy_encoding(SAMPLE) == "gb18030"
    for codec in ("utf-8", "gbk"):  # the emoji needs GB18030's four-byte form
        try:
            raw.decode(codec)
        except UnicodeDecodeError:
            continue
        raise AssertionError(f"sample unexpectedly decodes as {codec}")
    examples, rejects = split(dialogue_csv.read(SAMPLE))
    assert [e.source for e in examples] == [f"内科5000-33000.csv:{n}" for n in (2, 3, 6, 7, 9, 10)]
    assert [(r.line, r.reason, r.raw) for r in rejects] == [
        (8, "bad row: expected 4 columns, got 3", "神经内科,头晕,最近总是头晕")]
    answers = {row[3] for row in source_rows(SAMPLE, "gb18030") if len(row) == 4}
    assert {e.output for e in examples} <= answers
    assert "🙂" in examples[3].instruction


def test_quoted_commas_and_newlines():
    examples, _ = split(dialogue_csv.read(SAMPLE))
    assert examples[1].instruction == "血糖偏高怎么办\n空腹血糖6.5，餐后9点多，需要吃药吗？\n平时不太运动。"
    assert examples[1].output == ("这个数值已经超过正常范围，建议先到医院复查糖化血红蛋白，\n"
                                  "同时控制饮食、增加运动，是否用药由医生评估。")
    assert examples[2].instruction == "饭后胃胀，打嗝, 有时反酸，这是胃炎吗？"  # the ask already holds the title
    assert examples[4].meta["title"] == "心慌,胸闷"


def test_title_is_the_question_when_the_ask_says_nothing(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(HEADER +
                    "儿科,小孩癫痫有什么特征,无,发作时常见意识丧失。\n"        # ask "无": the title
                    "儿科,小孩癫痫有什么特征,,发作时常见意识丧失。\n"          # empty ask: the title
                    "儿科,宝宝发烧,孩子三岁，38度5。,可以先物理降温。\n"      # both: title then ask
                    "儿科,发烧,孩子发烧怎么办,多喝水。\n"                    # ask contains the title
                    "儿科,无,无,回答。\n", encoding="gb18030")              # nothing asked: rejected
    examples, rejects = split(dialogue_csv.read(path))
    assert [e.instruction for e in examples] == ["小孩癫痫有什么特征", "小孩癫痫有什么特征",
                                                 "宝宝发烧\n孩子三岁，38度5。", "孩子发烧怎么办"]
    assert all(e.meta["question"] == e.instruction for e in examples)
    assert [(r.line, r.reason) for r in rejects] == [(6, "missing or empty 'ask' and 'title'")]


def test_big5_file_is_read_as_big5_not_garbled():
    path = SAMPLES / "encodings" / "big5_兒科.csv"
    assert legacy_encoding(path) == "big5hkscs"
    examples, rejects = split(dialogue_csv.read(path))
    assert not rejects
    expected = source_rows(path, "big5")
    assert [e.output for e in examples] == [row[3] for row in expected]
    assert examples[0].instruction == "小孩發燒怎麼辦\n孩子三歲，昨晚開始發燒，現在三十八度五，精神還可以。"
    assert examples[1].instruction == "血壓偏高"  # ask "無"


def test_one_utf8_row_in_a_gbk_file_costs_nothing():
    path = SAMPLES / "encodings" / "gbk_with_utf8_row.csv"
    examples, rejects = split(dialogue_csv.read(path))
    assert not rejects and len(examples) == 21
    assert examples[-1].output == "你好，少量多次喂养，喂完后竖抱拍嗝，如果呕吐呈喷射状，要及时就医。"
    gbk_part = path.read_bytes().rsplit(b"\r\n", 2)[0].decode("gbk")  # all but the appended UTF-8 row
    gbk_answers = [row[3] for row in list(csv.reader(io.StringIO(gbk_part, newline="")))[1:]]
    assert [e.output for e in examples[:20]] == gbk_answers


def test_a_row_in_the_wrong_encoding_is_rejected_alone(tmp_path):
    path = tmp_path / "mixed.csv"
    good = "内科,头痛,经常头痛怎么办，已经两周了。,建议规律作息，必要时就医。\n"
    path.write_bytes(HEADER.encode() + good.encode("gbk") * 5
                     + "內科,頭痛,經常頭痛怎麼辦，已經兩週了。,建議規律作息。\n".encode("big5")  # garbles as GB18030
                     + b"\xe5\x86\x85,\xff\xfe,\xff,\xff\n")                                    # no codec at all
    examples, rejects = split(dialogue_csv.read(path))
    assert len(examples) == 5 and all(e.output == "建议规律作息，必要时就医。" for e in examples)
    assert [(r.line, r.reason.split(":")[0]) for r in rejects] == [(7, "garbled row"), (8, "undecodable row")]


def test_utf8_with_bom_question_alias_and_empty_fields(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("\ufeffdepartment,title,question,answer\n"
                    "儿科,发烧,孩子发烧怎么办,多喝水\n"
                    "儿科,,  ,回答\n"
                    "\n"
                    ",无科室,问题,\"\"\n"
                    ",无科室,问题,回答\n", encoding="utf-8")
    examples, rejects = split(dialogue_csv.read(path))
    assert [(e.instruction, e.output, e.meta["subject"], e.source) for e in examples] == [
        ("孩子发烧怎么办", "多喝水", "儿科", "d.csv:2"), ("无科室\n问题", "回答", None, "d.csv:6")]
    assert [(r.line, r.reason) for r in rejects] == [(3, "missing or empty 'ask' and 'title'"),
                                                     (5, "missing or empty 'answer'")]


def test_bad_header_utf16_and_empty_file(tmp_path):
    header = tmp_path / "header.csv"
    header.write_text("科室,标题,问,答\n内科,t,q,a\n", encoding="gb18030")
    assert [(r.line, r.reason) for r in dialogue_csv.read(header)] == [
        (1, "bad header: missing column(s) department, title, ask, answer")]
    utf16 = tmp_path / "utf16.csv"
    utf16.write_text(HEADER + "内科,头痛,怎么办,休息\n", encoding="utf-16")
    assert [r.reason.split(":")[0] for r in dialogue_csv.read(utf16)] == ["UTF-16 file"]
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert [r.reason for r in dialogue_csv.read(empty)] == ["empty file: no header row"]


def test_real_style_sample_keeps_every_row_and_text():
    """40 long comma-joined answers (GBK, a multi-line answer, ASCII commas in a title and an ask)."""
    examples, rejects = split(dialogue_csv.read(REAL))
    rows = source_rows(REAL, "gbk")
    assert not rejects and len(examples) == len(rows) == 40
    assert [e.output for e in examples] == [row[3].strip() for row in rows]
    assert sum("\n" in e.output for e in examples) == 2 and examples[13].meta["title"] == "心慌,胸闷"
    assert examples[0].instruction == "小孩癫痫有什么特征"  # ask "无"


def test_a_single_short_gbk_row_is_not_taken_for_another_codec(tmp_path):
    path = tmp_path / "one.csv"
    path.write_bytes(HEADER.encode() + "儿科,发烧,,多喝水\n".encode("gbk"))  # the detector alone says UTF-16-LE
    assert legacy_encoding(path) == "gb18030"
    (example,) = dialogue_csv.read(path)
    assert (example.instruction, example.output) == ("发烧", "多喝水")
