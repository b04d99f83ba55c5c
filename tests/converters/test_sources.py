"""Sources that are folders, globs and zips (bad CRC, nested folders, __MACOSX): walked or rejected, never a crash."""
from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

from converters import FORMATS
from converters.__main__ import main as convert
from converters.common import Example, Reject
from converters.sources import check_source, read_source
from tests.conftest import ROOT, run_module

MAC_ZIP = ROOT / "data/samples/dialogue_csv_zip/Surgical_外科.zip"


def read(fmt: str, path, scratch: Path) -> tuple[list[Example], list[Reject]]:
    items = list(read_source(fmt, str(path), FORMATS[fmt], scratch))
    return [i for i in items if isinstance(i, Example)], [i for i in items if isinstance(i, Reject)]


def corrupt_member(src: Path, dst: Path, member: str) -> None:
    """A copy of the zip whose `member` data has one byte flipped: its CRC-32 check fails on read."""
    data = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as archive:
        info = archive.getinfo(member)
    name_len = int.from_bytes(data[info.header_offset + 26:info.header_offset + 28], "little")
    extra_len = int.from_bytes(data[info.header_offset + 28:info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len  # first byte of the member's data
    data[start + info.compress_size // 2] ^= 0xFF
    dst.write_bytes(bytes(data))


def test_mac_zip_nested_folder_and_macosx_junk_are_walked(tmp_path):
    examples, rejects = read("dialogue-csv", MAC_ZIP, tmp_path)
    assert not rejects and len(examples) == 5
    assert {e.source.split(":")[0] for e in examples} == {"外科5-14000.csv"}
    with zipfile.ZipFile(MAC_ZIP) as archive:  # the sample carries the junk it must skip
        names = archive.namelist()
    assert any(n.startswith("__MACOSX/") for n in names) and any(n.endswith(".DS_Store") for n in names)


def test_a_bad_crc_member_is_one_reject_naming_it_and_the_rest_is_read(tmp_path):
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(MAC_ZIP) as src, zipfile.ZipFile(two, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        dst.writestr("Surgical_外科/second.csv", src.read("Surgical_外科/外科5-14000.csv"))
    bad = tmp_path / "bad.zip"
    corrupt_member(two, bad, "Surgical_外科/外科5-14000.csv")
    examples, rejects = read("dialogue-csv", bad, tmp_path / "s")
    assert len(examples) == 5 and {e.source.split(":")[0] for e in examples} == {"second.csv"}
    assert [(r.file, r.reason.split(":")[0]) for r in rejects] == [
        (f"{bad}!Surgical_外科/外科5-14000.csv", "corrupted zip member")]
    assert "CRC" in rejects[0].reason


def test_folders_are_walked_for_every_file_format(tmp_path):
    root = tmp_path / "raw"
    (root / "IM_内科" / "deeper").mkdir(parents=True)
    (root / "__MACOSX").mkdir()
    shutil.copy(ROOT / "data/samples/dialogue_csv_real/儿科内科5-14000.csv", root / "IM_内科" / "a.csv")
    shutil.copy(ROOT / "data/samples/dialogue_csv/内科5000-33000.csv", root / "IM_内科" / "deeper" / "b.csv")
    (root / "__MACOSX" / "._a.csv").write_bytes(b"\x00\x05\x16\x07junk")
    (root / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    examples, rejects = read("dialogue-csv", root, tmp_path / "s")
    assert len(examples) == 46 and [r.reason.split(":")[0] for r in rejects] == ["bad row"]
    for fmt, sample in (("sharegpt", "data/samples/sharegpt"), ("medqa", "data/samples/medqa")):
        examples, _ = read(fmt, ROOT / sample, tmp_path / fmt)
        assert examples, fmt


def test_globs_missing_paths_empty_folders_and_unreadable_zips(tmp_path):
    examples, _ = read("dialogue-csv", ROOT / "data/samples/encodings/*.csv", tmp_path / "g")
    assert len(examples) == 24
    _, rejects = read("dialogue-csv", tmp_path / "nothing-*.csv", tmp_path / "n")
    assert [r.reason for r in rejects] == ["no file matches this pattern"]
    _, rejects = read("dialogue-csv", tmp_path / "missing.csv", tmp_path / "m")
    assert [r.reason for r in rejects] == ["missing path: no such file or folder"]
    (tmp_path / "empty").mkdir()
    _, rejects = read("dialogue-csv", tmp_path / "empty", tmp_path / "e")
    assert rejects[0].reason.startswith("empty folder")
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"PK\x03\x04 this is not really a zip")
    _, rejects = read("dialogue-csv", fake, tmp_path / "f")
    assert len(rejects) == 1 and rejects[0].reason.startswith("unreadable zip") and rejects[0].file == str(fake)


def test_an_exception_inside_a_converter_names_the_file_and_keeps_what_was_read(tmp_path):
    def fragile(path):
        yield Example(instruction="问", output="答", source=f"{Path(path).name}:1")
        raise IsADirectoryError(21, "Is a directory", str(path))

    path = tmp_path / "x.jsonl"
    path.write_text("{}\n")
    items = list(read_source("qa-jsonl", str(path), fragile, tmp_path / "s"))
    assert isinstance(items[0], Example)
    assert items[1].file == str(path) and items[1].reason.startswith("unreadable file (IsADirectoryError")


def test_make_convert_takes_folders_zips_and_globs(tmp_path, capsys):
    done = run_module("converters", "dialogue-csv", "data/samples/dialogue_csv_real", "--out", str(tmp_path / "d"))
    assert done.returncode == 0 and "kept 40 +" in done.stdout and not done.stderr  # as `make convert` runs it
    for fmt, src, kept in (("dialogue-csv", str(MAC_ZIP.relative_to(ROOT)), 5),
                           ("dialogue-csv", "data/samples/encodings/*.csv", 24),
                           ("sharegpt", "data/samples/sharegpt", None), ("medqa", "data/samples/medqa", None)):
        assert convert([fmt, src, "--out", str(tmp_path / fmt)]) == 0
        if kept is not None:
            assert f"kept {kept} +" in capsys.readouterr().out


def test_check_source_reports_what_validate_can_see(tmp_path):
    assert check_source("cmedqa2", "data/samples/cmedqa2") == []
    assert check_source("dialogue-csv", str(MAC_ZIP)) == []
    release = tmp_path / "cMedQA2"
    release.mkdir()
    (release / "train_candidates.txt").write_text("question_id,pos_ans_id,neg_ans_id\n")
    problems = check_source("cmedqa2", str(release))
    assert [p.split(":")[0] for p in problems] == ["missing file", "missing file"]
    (tmp_path / "empty").mkdir()
    assert check_source("cmedqa2", str(tmp_path / "empty")) == ["empty folder: no files under it"]
    bad = tmp_path / "bad.zip"
    corrupt_member(MAC_ZIP, bad, "Surgical_外科/外科5-14000.csv")
    assert check_source("dialogue-csv", str(bad)) == []  # the listing is fine; only reading finds it
    assert check_source("dialogue-csv", str(bad), crc=True) == [
        f"corrupted zip member: {bad}!Surgical_外科/外科5-14000.csv fails its CRC check"]
    (tmp_path / "empty.jsonl").write_bytes(b"")
    assert check_source("qa-jsonl", str(tmp_path / "empty.jsonl")) == [f"empty file: {tmp_path / 'empty.jsonl'}"]


def test_cmedqa2_release_with_a_corrupted_zip_is_rejected_not_crashed(tmp_path):
    release = tmp_path / "cMedQA2"
    shutil.copytree(ROOT / "data/samples/cmedqa2", release)
    good = tmp_path / "answer.zip"
    with zipfile.ZipFile(good, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(release / "answer.csv", "answer.csv")
        archive.writestr("__MACOSX/._answer.csv", b"\x00\x05\x16\x07junk")
    (release / "answer.csv").unlink()
    corrupt_member(good, release / "answer.zip", "answer.csv")
    examples, rejects = read("cmedqa2", release, tmp_path / "s")
    assert not examples
    assert [(r.file, r.reason.split(":")[0]) for r in rejects] == [
        (f"{release / 'answer.zip'}!answer.csv", "corrupted zip member")]
    assert convert(["cmedqa2", str(release), "--out", str(tmp_path / "out")]) == 1


def test_cmedqa2_answer_in_a_wrong_encoding_is_rejected_not_garbled(tmp_path):
    release = tmp_path / "cMedQA2"
    shutil.copytree(ROOT / "data/samples/cmedqa2", release)
    lines = (release / "answer.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    ans_id, qid, _ = lines[1].split(",", 2)
    body = b"".join(l.encode("gb18030") for l in lines[:1] + lines[2:])
    (release / "answer.csv").write_bytes(body + f"{ans_id},{qid},頭暈眼花，建議多休息。\n".encode("big5"))
    examples, rejects = read("cmedqa2", release, tmp_path / "s")
    garbled = [r for r in rejects if r.reason.startswith("garbled row")]
    assert len(garbled) == 1 and f"answer {ans_id}" in garbled[0].reason
    assert all("\ue000" > c or c > "\uf8ff" for e in examples for c in e.output)


def test_a_zipped_release_folder_is_extracted_for_folder_formats(tmp_path):
    release = tmp_path / "release.zip"
    with zipfile.ZipFile(release, "w") as archive:
        for file in sorted((ROOT / "data/samples/cmedqa2").iterdir()):
            archive.write(file, f"cMedQA2-master/{file.name}")
        archive.writestr("__MACOSX/cMedQA2-master/._question.csv", b"\x00\x05\x16\x07junk")
    examples, rejects = read("cmedqa2", release, tmp_path / "s")
    assert len(examples) == 14
    assert [r.file for r in rejects] == [f"{release}!cMedQA2-master/train_candidates.txt"]


def test_zip_member_names_cannot_escape_the_scratch_folder(tmp_path):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../../escaped.csv", (ROOT / "data/samples/dialogue_csv/内科5000-33000.csv").read_bytes())
    examples, _ = read("dialogue-csv", evil, tmp_path / "deep" / "scratch")
    assert len(examples) == 6 and not (tmp_path / "escaped.csv").exists()
