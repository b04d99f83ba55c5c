"""`make validate` on the data section: prompts that disagree with five_section or a source, source folders and zips."""
from __future__ import annotations

import zipfile

import pytest

from converters.consistency import warnings
from core.recipe.load import RecipeError, load_recipe
from core.recipe.schema import DataSection
from tests.conftest import ROOT, run_module

FIVE = "你是一名专业的医生，请按【病情分析】【指导建议】【药物说明】【风险提示】【免责声明】五个部分回答。"
SHIPPED = sorted((ROOT / "recipes").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_recipes_are_consistent(path):
    assert warnings(load_recipe(path, check_files=False).data) == []


def test_five_section_prompt_without_five_section_warns():
    data = DataSection(sources=[{"format": "cmedqa2", "path": "x"}], system_prompt=FIVE)
    (found,) = warnings(data)
    assert "asks for the five sections but data.five_section.enabled is false" in found
    data.five_section.enabled = True
    assert warnings(data) == []
    data.system_prompt = "你是一名医生。"
    assert "no system prompt names the sections" in warnings(data)[0]


def test_one_prompt_for_sources_that_differ_warns_per_source():
    data = DataSection(sources=[{"format": "dialogue-csv", "path": "a"},
                                {"format": "pubmedqa", "path": "ori_pqal.json"},
                                {"format": "medqa", "path": "m.jsonl"}],
                       system_prompt=FIVE, five_section={"enabled": True})
    found = warnings(data)
    assert len(found) == 3
    assert "data.sources.1 (pubmedqa" in found[0] and "option letters, yes/no or task outputs" in found[0]
    assert "data.sources.1 (pubmedqa" in found[1] and "English source gets a Chinese system prompt" in found[1]
    assert "data.sources.2 (medqa" in found[2]
    data.sources[1].system_prompt = "You are a biomedical researcher. Answer yes, no or maybe."
    data.sources[2].system_prompt = "你是一名医学考试助手，请选出正确答案。"
    assert warnings(data) == []


def test_validate_prints_the_warnings(tmp_path):
    done = run_module("medkit.validate", "--schema-only", "recipes/quickstart.yaml",
                      "data.sources.6.system_prompt=null")
    assert done.returncode == 0
    assert "warning: data.sources.6 (medqa" in done.stderr


def test_validate_checks_release_folders_zips_and_empty_sources(tmp_path):
    release = tmp_path / "cMedQA2"
    release.mkdir()
    (release / "train_candidates.txt").write_text("question_id,pos_ans_id,neg_ans_id\n1,2,3\n")
    (tmp_path / "empty").mkdir()
    bad_zip = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad_zip, "w") as archive:
        archive.writestr("a.csv", "department,title,ask,answer\n" * 50)
    data = bytearray(bad_zip.read_bytes())
    data[40] ^= 0xFF  # inside the member's stored data: its CRC-32 no longer matches
    bad_zip.write_bytes(bytes(data))
    sources = (f"data.sources=[{{format: cmedqa2, path: {release}}}, {{format: sharegpt, path: {tmp_path / 'empty'}}}, "
               f"{{format: dialogue-csv, path: {bad_zip}}}]")
    load_recipe(ROOT / "recipes/quickstart.yaml", [sources])  # loading checks only that each path exists
    with pytest.raises(RecipeError, match="data.sources.0.path = .*file not found"):
        load_recipe(ROOT / "recipes/quickstart.yaml", [f"data.sources=[{{format: cmedqa2, path: {tmp_path}/no}}]"])
    done = run_module("converters.build", "recipes/quickstart.yaml", f"run_dir={tmp_path / 'run'}", sources)
    assert done.returncode == 2  # make data looks inside before converting anything
    problems = [line for line in done.stderr.splitlines() if line.startswith(("error: data.sources", "data.sources"))]
    assert len(problems) == 3, done.stderr
    assert f"data.sources.0.path = '{release}': missing file: cmedqa2 needs question.csv" in problems[0]
    assert "answer.csv or answers.csv" in problems[1]
    assert problems[2] == f"data.sources.1.path = '{tmp_path / 'empty'}': empty folder: no files under it"
    assert not (tmp_path / "run" / "data" / "dataset_info.json").exists()
    # make validate also reads every zip member: the CRC failure
    done = run_module("medkit.validate", "recipes/quickstart.yaml",
                      f"data.sources=[{{format: dialogue-csv, path: {bad_zip}}}]")
    assert done.returncode == 2
    assert (f"data.sources.0.path = '{bad_zip}': corrupted zip member: {bad_zip}!a.csv fails its CRC check"
            in done.stderr)


def test_a_five_section_prompt_on_preference_pairs_warns_that_their_answers_stay_raw():
    data = DataSection(sources=[{"format": "medicalgpt-preference", "path": "p.jsonl"},
                                {"format": "cmedqa2", "path": "c"}], system_prompt=FIVE, five_section={"enabled": True})
    (found,) = warnings(data)
    assert found.startswith("data.sources.0 (medicalgpt-preference") and "become SFT rows as written" in found
    data.sources[0].system_prompt = "你是一名医生。"
    assert warnings(data) == []
