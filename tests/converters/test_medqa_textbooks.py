"""MedQA textbooks: one Document per non-blank line, title = book (file stem)."""
from __future__ import annotations

from pathlib import Path

from converters import medqa_textbooks
from converters.common import Document, Reject

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples" / "medqa_textbooks"


def split(items):
    items = list(items)
    return ([i for i in items if isinstance(i, Document)], [i for i in items if isinstance(i, Reject)])


def test_zh_paragraph_directory():
    docs, rejects = split(medqa_textbooks.read(SAMPLES / "zh_paragraph"))
    assert rejects == []
    assert [d.metadata["line"] for d in docs] == [1, 2, 4, 6, 7]  # blank and whitespace-only lines skipped
    first = docs[0]
    assert (first.title, first.text, first.source) == ("内科学", "第一章\u3000呼吸系统疾病总论", "内科学.txt:1")
    assert first.metadata == {"book": "内科学", "line": 1}
    assert docs[2].text.startswith("慢性支气管炎以反复咳嗽") and docs[2].source == "内科学.txt:4"
    assert len({d.doc_id for d in docs}) == 5


def test_single_english_file():
    docs, rejects = split(medqa_textbooks.read(SAMPLES / "en" / "Physiology_Sample.txt"))
    assert (len(docs), rejects) == (3, [])
    assert {d.title for d in docs} == {"Physiology_Sample"}
    assert docs[2].text == "Antidiuretic hormone increases the water permeability of the collecting duct."
    assert docs[2].metadata == {"book": "Physiology_Sample", "line": 4}


def test_undecodable_line_bom_and_file_order(tmp_path):
    (tmp_path / "外科学.txt").write_bytes(
        "\ufeff第一段。\n".encode("utf-8") + b"\xff\xfe bad\n" + "第三段。\n".encode("utf-8"))
    (tmp_path / "儿科学.txt").write_text("只有一段。", encoding="utf-8")  # no trailing newline
    (tmp_path / "notes.md").write_text("not a book\n", encoding="utf-8")
    (tmp_path / "._外科学.txt").write_bytes(b"\x00\x05\x16\x07")
    items = list(medqa_textbooks.read(tmp_path))
    docs, rejects = split(items)
    assert [(d.title, d.text) for d in docs] == [
        ("儿科学", "只有一段。"), ("外科学", "第一段。"), ("外科学", "第三段。")]
    assert [(Path(r.file).name, r.line, r.reason) for r in rejects] == [("外科学.txt", 2, "not UTF-8")]
    assert isinstance(items[2], Reject)  # rejects stay in place in the stream


def test_empty_and_missing_paths(tmp_path):
    assert [(r.line, r.reason.split(":")[0]) for r in medqa_textbooks.read(tmp_path)] == [(0, "no .txt files")]
    assert [(r.line, r.reason.split(":")[0]) for r in medqa_textbooks.read(tmp_path / "nope")] == [(0, "missing path")]
