from __future__ import annotations

import json

from converters import alpaca, qa_jsonl
from converters.build import build, split_of
from converters.common import Example, Reject
from core.recipe.schema import DataSection
from tests.conftest import run_module


def write_lines(path, lines):
    path.write_bytes(b"\n".join(l if isinstance(l, bytes) else l.encode("utf-8") for l in lines) + b"\n")


def test_qa_jsonl_rejects_name_line_and_reason(tmp_path):
    src = tmp_path / "qa.jsonl"
    write_lines(src, [
        json.dumps({"question": "头痛怎么办？", "answer": "多休息。", "category": "内科"}, ensure_ascii=False),
        "{not json",
        json.dumps({"question": "只有问题"}, ensure_ascii=False),
        "",
        b"\xff\xfe bad bytes",
        json.dumps({"question": "  ", "answer": "空问题"}, ensure_ascii=False),
        json.dumps(["a", "list"]),
    ])
    items = list(qa_jsonl.read(src))
    kept = [i for i in items if isinstance(i, Example)]
    rejects = [(r.line, r.reason) for r in items if isinstance(r, Reject)]
    assert [k.instruction for k in kept] == ["头痛怎么办？"] and kept[0].meta == {"category": "内科"}
    assert rejects[0][0] == 2 and rejects[0][1].startswith("bad JSON")
    assert rejects[1:] == [(3, "missing or empty 'answer'"), (5, "not UTF-8"),
                           (6, "missing or empty 'question'"), (7, "line is not a JSON object")]


def test_alpaca_passthrough_keeps_input_and_system(tmp_path):
    src = tmp_path / "a.json"
    src.write_text(json.dumps([
        {"instruction": "分析病历", "input": "男，40岁，胸闷", "output": "建议心电图。", "system": "你是医生"},
        {"instruction": "", "output": "x"},
        "not an object",
    ], ensure_ascii=False), encoding="utf-8")
    items = list(alpaca.read(src))
    assert items[0].to_alpaca() == {"instruction": "分析病历", "input": "男，40岁，胸闷",
                                    "output": "建议心电图。", "system": "你是医生"}
    assert (items[1].line, items[1].reason) == (2, "missing or empty 'instruction'")
    assert (items[2].line, items[2].reason) == (3, "array item is not an object")


def test_alpaca_json_lines_are_read_whatever_the_file_is_called(tmp_path):
    """Huatuo-Llama-Med-Chinese ships llama_data.json with one object per line."""
    src = tmp_path / "llama_data.json"
    src.write_text("\n".join(json.dumps({"instruction": f"问题{i}", "input": "", "output": f"回答{i}"}, ensure_ascii=False)
                             for i in range(3)) + "\n", encoding="utf-8")
    items = list(alpaca.read(src))
    assert [item.output for item in items] == ["回答0", "回答1", "回答2"]


def test_splits_are_deterministic_and_seeded():
    ex = [Example(instruction=f"问题{i}", output="答") for i in range(400)]
    a = [split_of(e, 42, 0.1, 0.1) for e in ex]
    assert a == [split_of(e, 42, 0.1, 0.1) for e in ex]
    assert a != [split_of(e, 7, 0.1, 0.1) for e in ex]
    assert 20 <= a.count("test") <= 60 and 20 <= a.count("validation") <= 60


def test_build_writes_llamafactory_files_and_counts(tmp_path):
    src = tmp_path / "qa.jsonl"
    write_lines(src, [json.dumps({"question": f"问题{i}", "answer": f"回答{i}"}, ensure_ascii=False)
                      for i in range(50)] + ["{broken"])
    data = DataSection(sources=[{"format": "qa-jsonl", "path": str(src)}], system_prompt="你是医生",
                       val_size=0.1, test_size=0.1, max_reject_share=0.5)
    summary = build(data, 42, tmp_path / "out")
    info = json.loads((tmp_path / "out/dataset_info.json").read_text())
    assert set(info) >= {"medkit_train"} and info["medkit_train"]["file_name"] == "train.jsonl"
    assert sum(summary["splits"].values()) == 50 and summary["rejected"] == 1
    rows = [json.loads(l) for l in (tmp_path / "out/train.jsonl").read_text().splitlines()]
    assert rows[0]["system"] == "你是医生" and set(rows[0]) == {"instruction", "input", "output", "system"}
    reject = json.loads((tmp_path / "out/rejects.jsonl").read_text())
    assert reject["line"] == 51 and reject["file"] == str(src)


def test_make_data_fails_above_reject_threshold(tmp_path):
    src = tmp_path / "qa.jsonl"
    write_lines(src, [json.dumps({"question": "头痛怎么办", "answer": "多休息"}, ensure_ascii=False)] + ["{bad"] * 3)
    done = run_module("converters.build", "recipes/quickstart.yaml", f"run_dir={tmp_path}/run",
                      f"data.sources=[{{format: qa-jsonl, path: {src}}}]", "data.max_reject_share=0.05",
                      "data.refusals.count=0")
    assert done.returncode == 1
    assert "75.0% of rows rejected" in done.stderr and "rejects.jsonl" in done.stderr


def test_convert_by_hand(tmp_path):
    done = run_module("converters", "alpaca", "data/samples/alpaca.json", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "alpaca: input 20 = kept 20 + rejected 0; documents 0" in done.stdout
    assert len((tmp_path / "alpaca.jsonl").read_text().splitlines()) == 20


def test_format_names_match_the_schema():
    from converters import FORMATS
    from core.recipe.schema import DATA_FORMATS
    assert set(FORMATS) == set(DATA_FORMATS)


def test_official_split_is_kept(tmp_path):
    data = DataSection(sources=[{"format": "cmedqa2", "path": "data/samples/cmedqa2"}],
                       max_reject_share=0.5)
    summary = build(data, 42, tmp_path)
    assert summary["splits"] == {"train": 6, "validation": 3, "test": 5}


def test_make_train_refuses_data_that_make_data_refuses(tmp_path):
    # every row of this source is rejected: `make data` exits 1, and `make train` must not train on it
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "x"}\n{"nothing": 1}\n', encoding="utf-8")
    done = run_module("train", "recipes/quickstart.yaml", f"run_dir={tmp_path / 'run'}",
                      "data.sources=[{format: qa-jsonl, path: " + str(bad) + "}]", "data.refusals.count=0")
    assert done.returncode != 0
    assert "was rejected or dropped" in done.stderr and "not training on this data" in done.stderr
    assert not (tmp_path / "run" / "adapter").exists()
    assert not (tmp_path / "run" / "data" / "dataset_info.json").exists()
