"""Counts that add up (input = kept + rejected + duplicates), and empty or all-rejected input as errors."""
from __future__ import annotations

import json
import re

import pytest

from converters.__main__ import main as convert
from converters.build import main as make_data
from tests.conftest import run_module

LINE = re.compile(r"^\s+(\S+)\s+input (\d+) = kept (\d+) \+ rejected (\d+) \+ duplicates (\d+)"
                  r"(?: \+ over max_samples (\d+))?; documents (\d+)$", re.M)


def test_make_data_prints_balanced_accounting_for_every_bundled_sample(tmp_path, capsys):
    assert make_data(["recipes/quickstart.yaml", f"run_dir={tmp_path}"]) == 0
    printed = {m[0]: [int(x or 0) for x in m[1:]] for m in LINE.findall(capsys.readouterr().out)}
    summary = json.loads((tmp_path / "data" / "summary.json").read_text())
    assert set(printed) == set(summary["per_source"]) and len(printed) == 11
    for label, (total, kept, rejected, duplicates, capped, documents) in printed.items():
        counts = summary["per_source"][label]
        assert total == kept + rejected + duplicates + capped, label
        assert (kept, rejected, duplicates) == (counts["kept"], counts.get("rejected", 0),
                                                counts.get("duplicates", 0)), label
    assert printed["qa_noisy"][3] == 2 and printed["cmedqa2"][0] > printed["cmedqa2"][1]  # dups, rejects seen
    assert sum(p[2] for p in printed.values()) == summary["rejected"]


@pytest.mark.parametrize("name, content, fmt", [
    ("empty.jsonl", b"", "qa-jsonl"), ("blank.jsonl", b"\n  \n\n", "qa-jsonl"),
    ("empty.json", b"[]", "alpaca"), ("ori_pqal.json", b"{}", "pubmedqa"),
    ("header_only.csv", b"department,title,ask,answer\r\n", "dialogue-csv")])
def test_empty_input_is_an_error_that_says_so(tmp_path, capsys, name, content, fmt):
    (tmp_path / name).write_bytes(content)
    assert convert([fmt, str(tmp_path / name), "--out", str(tmp_path / "out")]) == 1
    assert "the input is empty" in capsys.readouterr().err


def test_all_rejected_input_is_an_error(tmp_path):
    src = tmp_path / "wrong_format.jsonl"
    src.write_text('{"instruction": "q", "output": "a"}\n' * 3, encoding="utf-8")
    done = run_module("converters", "qa-jsonl", str(src), "--out", str(tmp_path / "out"))  # the exit status, for real
    assert done.returncode == 1
    assert "input 3 = kept 0 + rejected 3" in done.stdout
    assert "all 3 records were rejected" in done.stderr and "right format" in done.stderr


def test_make_data_names_an_empty_source_instead_of_a_reject_share(tmp_path, capsys):
    (tmp_path / "empty.jsonl").write_bytes(b"\n \n\n")  # blank lines: no record
    sources = (f"data.sources=[{{format: qa-jsonl, path: data/samples/qa.jsonl}}, "
               f"{{format: qa-jsonl, path: {tmp_path / 'empty.jsonl'}}}]")
    assert make_data(["recipes/quickstart.yaml", f"run_dir={tmp_path / 'run'}", sources]) == 1
    err = capsys.readouterr().err
    assert "source 'empty'" in err and "is empty" in err and "rejected" not in err
    (tmp_path / "empty.jsonl").write_bytes(b"")  # a 0-byte file is caught before anything runs
    assert make_data(["recipes/quickstart.yaml", f"run_dir={tmp_path / 'run'}", sources]) == 2
    assert "empty file" in capsys.readouterr().err


def test_make_data_names_a_source_whose_rows_are_all_rejected(tmp_path, capsys):
    src = tmp_path / "alpaca_rows.jsonl"
    src.write_text('{"instruction": "头痛怎么办", "output": "多休息"}\n' * 2, encoding="utf-8")
    sources = (f"data.sources=[{{format: qa-jsonl, path: data/samples/qa.jsonl}}, "
               f"{{format: qa-jsonl, path: {src}}}]")
    assert make_data(["recipes/quickstart.yaml", f"run_dir={tmp_path / 'run'}", sources,
                      "data.max_reject_share=1.0"]) == 1
    err = capsys.readouterr().err
    assert "every record of source 'alpaca_rows'" in err and "missing or empty 'question'" in err
    rejects = (tmp_path / "run" / "data" / "rejects.jsonl").read_text().splitlines()
    assert len(rejects) == 2  # the rejects the message points at are there


def test_samples_written_for_the_issue_balance(tmp_path, capsys):
    """The real-file-shape samples, through make convert: input = kept + rejected, nothing lost."""
    for fmt, src, kept, rejected in (("dialogue-csv", "data/samples/dialogue_csv_real", 40, 0),
                                     ("dialogue-csv", "data/samples/dialogue_csv_zip", 5, 0),
                                     ("dialogue-csv", "data/samples/encodings", 24, 0),
                                     ("dialogue-csv", "data/samples/dialogue_csv", 6, 1)):
        assert convert([fmt, src, "--out", str(tmp_path / src.replace("/", "_"))]) == 0
        out = capsys.readouterr().out
        assert f"input {kept + rejected} = kept {kept} + rejected {rejected}" in out, (src, out)
