"""cMedQA2 / cMedQA v1 converter: folders or zips, candidate pairs, dedupe, rejects."""
from __future__ import annotations

import shutil
import zipfile
from collections import Counter
from pathlib import Path

from converters import cmedqa2
from converters.common import Example, Reject

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples" / "cmedqa2"
FILES = ("question.csv", "answer.csv", "train_candidates.txt", "dev_candidates.txt", "test_candidates.txt")


def split(items):
    items = list(items)
    return ([i for i in items if isinstance(i, Example)], [i for i in items if isinstance(i, Reject)])


def pairs(examples, split_name):
    return [(e.meta["question_id"], e.meta["ans_id"]) for e in examples if e.meta["split"] == split_name]


def copy_samples(tmp_path: Path, rename: dict | None = None) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    for name in FILES:
        shutil.copy(SAMPLES / name, folder / (rename or {}).get(name, name))
    return folder


def test_sample_splits_dedupe_and_dangling():
    examples, rejects = split(cmedqa2.read(SAMPLES))
    assert Counter(e.meta["split"] for e in examples) == {"train": 6, "validation": 3, "test": 5}
    # 12 train rows: (45012301, 1) and (45012301, 2) repeat, and so on -> 6 distinct valid pairs
    assert pairs(examples, "train") == [(45012301, 1), (45012301, 2), (45012302, 3),
                                        (45012303, 4), (45012303, 5), (45012304, 6)]
    assert pairs(examples, "validation") == [(45012305, 7), (45012305, 8), (45012306, 9)]
    assert pairs(examples, "test") == [(45012307, 10), (45012307, 11), (45012308, 12),
                                       (45012308, 13), (45012308, 14)]
    # the dangling pair (45012304, 99) appears twice but is rejected once, at its first line
    assert [(Path(r.file).name, r.line, r.reason) for r in rejects] == [
        ("train_candidates.txt", 12, "dangling ans_id: 99 not in answer.csv")]


def test_example_content_and_quoted_fields():
    examples, _ = split(cmedqa2.read(SAMPLES))
    by_pair = {(e.meta["question_id"], e.meta["ans_id"]): e for e in examples}
    first = by_pair[(45012301, 1)]
    assert first.instruction.startswith("最近一周老是头晕")
    assert first.output.startswith("你好，起床时头晕")
    assert first.meta == {"split": "train", "question_id": 45012301, "ans_id": 1}
    assert first.source == "train_candidates.txt:2"
    assert by_pair[(45012302, 3)].instruction.startswith("孩子两岁半,晚上")  # quoted comma kept
    answer = by_pair[(45012305, 7)].output
    assert "阑尾炎,典型" in answer and "\n建议尽快到医院" in answer  # quoted comma + newline


def test_zipped_release_with_macosx_junk(tmp_path):
    folder = tmp_path / "zipped"
    folder.mkdir()
    for name in FILES:
        archive = folder / (name.rsplit(".", 1)[0] + ".zip")
        with zipfile.ZipFile(archive, "w") as zf:  # junk first, one entry with the real file's name
            zf.writestr("__MACOSX/", b"")
            zf.writestr(f"__MACOSX/{name}", b"junk,\xff\xfe\n1,2,3,4\n")
            zf.writestr(f"__MACOSX/._{name}", b"\x00\x05\x16\x07junk\xff\xfe")
            zf.write(SAMPLES / name, name)
    plain, _ = split(cmedqa2.read(SAMPLES))
    examples, rejects = split(cmedqa2.read(folder))
    assert [(e.instruction, e.output, e.meta) for e in examples] == [(e.instruction, e.output, e.meta) for e in plain]
    assert [(r.line, r.reason) for r in rejects] == [(12, "dangling ans_id: 99 not in answer.zip!answer.csv")]
    assert rejects[0].file.endswith("train_candidates.zip!train_candidates.txt")


def test_v1_file_names(tmp_path):
    folder = copy_samples(tmp_path, {"question.csv": "questions.csv", "answer.csv": "answers.csv"})
    examples, rejects = split(cmedqa2.read(folder))
    assert (len(examples), len(rejects)) == (14, 1)


def test_unquoted_commas_stay_in_content(tmp_path):
    folder = copy_samples(tmp_path)
    text = (folder / "answer.csv").read_text(encoding="utf-8")
    (folder / "answer.csv").write_text(text.replace("3,45012302,小孩新陈代谢旺盛，", "3,45012302,小孩新陈代谢旺盛,,"), encoding="utf-8")
    examples, rejects = split(cmedqa2.read(folder))
    assert len(examples) == 14 and len(rejects) == 1
    assert next(e for e in examples if e.meta["ans_id"] == 3).output.startswith("小孩新陈代谢旺盛,,入睡后")


def test_gb18030_encoded_files(tmp_path):
    folder = copy_samples(tmp_path)
    for name in ("question.csv", "answer.csv"):
        text = (folder / name).read_text(encoding="utf-8")
        (folder / name).write_bytes(text.encode("gb18030"))
    examples, rejects = split(cmedqa2.read(folder))
    assert len(examples) == 14 and len(rejects) == 1
    assert examples[0].instruction.startswith("最近一周老是头晕")


def test_bad_bytes_empty_content_and_bad_rows(tmp_path):
    folder = copy_samples(tmp_path)
    data = (folder / "answer.csv").read_bytes().replace("你好，起床时".encode(), b"\xff\xfe\xfd", 1)
    (folder / "answer.csv").write_bytes(data)
    text = (folder / "question.csv").read_text(encoding="utf-8")
    text = text.replace("体检发现尿酸480，平时没有关节疼，需要吃降尿酸的药吗？", "  ")
    (folder / "question.csv").write_text(text + "abc,不是数字的编号\n", encoding="utf-8")
    with (folder / "dev_candidates.txt").open("a", encoding="utf-8") as fh:
        fh.write("45012306,9,3,2\n45012306\n")
    examples, rejects = split(cmedqa2.read(folder))
    found = [(Path(r.file).name, r.line, r.reason.split(":")[0]) for r in rejects]
    assert found == [
        ("question.csv", 10, "bad row"),              # non-integer id
        ("answer.csv", 2, "undecodable bytes"),       # answer 1 holds bytes valid in neither encoding
        ("question.csv", 4, "empty question content"),  # question 45012303 is blank: both its pairs lost
        ("question.csv", 4, "empty question content"),
        ("train_candidates.txt", 12, "dangling ans_id"),
        ("dev_candidates.txt", 9, "bad label"),
        ("dev_candidates.txt", 10, "bad row"),
    ]
    assert "train pair 45012303/5, train_candidates.txt line 9" in rejects[3].reason
    assert "\ufffd" in rejects[1].raw and "\udcff" not in rejects[1].raw  # raw stays writable as UTF-8
    assert len(examples) == 14 - 3
    assert (45012301, 1) not in {(e.meta["question_id"], e.meta["ans_id"]) for e in examples}


def test_answer_filed_under_another_question(tmp_path):
    folder = copy_samples(tmp_path)
    with (folder / "train_candidates.txt").open("a", encoding="utf-8") as fh:
        fh.write("45012302,4,1\n")  # answer 4 belongs to question 45012303
    _, rejects = split(cmedqa2.read(folder))
    assert [(r.line, r.reason) for r in rejects][-1] == (
        14, "answer of another question: ans_id 4 belongs to question_id 45012303")


def test_missing_folder_and_files(tmp_path):
    _, rejects = split(cmedqa2.read(tmp_path / "nope"))
    assert rejects[0].reason.startswith("not a directory")
    folder = copy_samples(tmp_path)
    (folder / "answer.csv").unlink()
    (folder / "test_candidates.txt").unlink()
    examples, rejects = split(cmedqa2.read(folder))
    assert examples == [] and [r.reason.split(":")[0] for r in rejects] == ["missing file"]
    shutil.copy(SAMPLES / "answer.csv", folder / "answer.csv")
    examples, rejects = split(cmedqa2.read(folder))
    assert len(examples) == 9 and "test_candidates.txt" in rejects[-1].reason
