"""Preference pairs: cMedQA2 train candidates, refusal and five-section pairs, the held-out rule,
and the ranking + KTO datasets LLaMA-Factory reads."""
from __future__ import annotations

import json

from converters import cmedqa2_pairs, pairs
from converters.__main__ import main as convert
from converters.build import build
from converters.common import Example, Reject
from converters.prep.refusals import DEFAULT_REFUSAL
from core.recipe.schema import DataSection
from tests.conftest import ROOT

SAMPLE = ROOT / "data" / "samples" / "cmedqa2_pairs"


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_cmedqa2_train_candidates_give_pairs_and_every_bad_row_a_reason():
    items = list(cmedqa2_pairs.read(SAMPLE))
    kept = [i for i in items if isinstance(i, Example)]
    reasons = sorted(i.reason.split(":")[0] for i in items if isinstance(i, Reject))
    assert len(kept) + len(reasons) == 17  # one item per data row of train_candidates.txt
    assert [k.source for k in kept] == [f"train_candidates.txt:{n}" for n in (2, 3, 4, 6, 7, 9)]
    assert reasons == sorted(["duplicate pair", "negative answers the question", "empty question content",
                              "dangling ans_id", "held-out question", "held-out question", "no preference",
                              "empty answer content", "bad row", "dangling question_id",
                              "answer of another question"])
    first = kept[0]
    assert first.instruction.startswith("扁桃体发炎反复发作") and first.output.startswith("扁桃体炎一年发作五次以上")
    assert first.meta["rejected"].startswith("晨起脚跟疼") and first.meta["split"] == "train"
    assert (first.meta["question_id"], first.meta["ans_id"], first.meta["rejected_ans_id"]) == (62001, 501, 504)
    held = [i.reason for i in items if isinstance(i, Reject) and i.reason.startswith("held-out")]
    assert held == ["held-out question: question_id 62002 is in dev_candidates.txt",
                    "held-out question: question_id 62006 is in test_candidates.txt"]


def test_without_the_dev_or_test_file_no_pair_is_given(tmp_path):
    for name in ("question.csv", "answer.csv", "train_candidates.txt", "dev_candidates.txt"):
        (tmp_path / name).write_bytes((SAMPLE / name).read_bytes())
    items = list(cmedqa2_pairs.read(tmp_path))
    assert [(type(i).__name__, i.reason.split(":")[0]) for i in items] == [("Reject", "missing file")]
    assert "test_candidates.txt" in items[0].reason


def test_make_pair_reasons():
    assert pairs.make_pair("q", "a", "a", "f:1") == "no preference: chosen and rejected answers are the same"
    assert pairs.make_pair("q", " ", "b", "f:1") == "missing or empty 'chosen'"
    assert pairs.make_pair("", "a", "b", "f:1") == "missing or empty 'question'"
    assert pairs.make_pair("q", "a", None, "f:1", names=("question", "x", "y")) == "missing or empty 'y'"
    ok = pairs.make_pair(" q ", "a", "b", "f:1", history=[["q0", "a0"]])
    assert (ok.instruction, ok.output, ok.meta["rejected"], ok.meta["history"]) == ("q", "a", "b", [["q0", "a0"]])


def test_every_builtin_out_of_scope_question_has_an_answer():
    from converters.prep.refusals import QUESTIONS
    answers = pairs.load_answers()
    assert sorted(answers) == sorted(q for _, q in QUESTIONS)
    assert all(DEFAULT_REFUSAL != a for a in answers.values())


def test_make_data_writes_ranking_and_kto_datasets(tmp_path):
    data = DataSection(sources=[{"format": "cmedqa2-pairs", "path": "data/samples/cmedqa2_pairs"},
                                {"format": "dialogue-csv", "path": "data/samples/dialogue_csv"}],
                       five_section={"enabled": True}, refusals={"count": 6},
                       pairs={"refusals": True, "five_section": True},
                       max_reject_share=1.0, val_size=0.0, test_size=0.0)
    summary = build(data, 42, tmp_path)
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert info["medkit_pairs_train"] == {"file_name": "medkit_pairs_train.jsonl", "ranking": True, "columns": {
        "prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected", "system": "system"}}
    assert info["medkit_kto_train"] == {"file_name": "medkit_kto_train.jsonl", "columns": {
        "prompt": "instruction", "query": "input", "response": "output", "kto_tag": "kto_tag", "system": "system"}}
    ranking = read_jsonl(tmp_path / "medkit_pairs_train.jsonl")
    refusal = [p for p in ranking if p["chosen"] == DEFAULT_REFUSAL]
    five = [p for p in ranking if p["chosen"].startswith("【病情分析】")]
    cmedqa = [p for p in ranking if p not in refusal and p not in five]
    assert len(cmedqa) == 6 and len(refusal) == 6 and len(five) >= 3
    assert all("【" not in p["chosen"] and "【" not in p["rejected"] for p in cmedqa)  # pairs are left as they are
    assert all("【" not in p["rejected"] for p in five)  # rejected = the raw answer
    assert summary["pairs"]["train"] == len(ranking)
    assert summary["pairs"]["refusal-pairs"] == 6 and summary["pairs"]["five-section-pairs"] == len(five)
    assert summary["per_source"]["cmedqa2_pairs"]["rejected"] == 11
    kto = read_jsonl(tmp_path / "medkit_kto_train.jsonl")
    assert {r["kto_tag"] for r in kto} == {True, False}
    # one positive with two negatives: its desirable row is written once
    tonsil = [r for r in kto if r["instruction"].startswith("扁桃体发炎") and r["kto_tag"]]
    assert len(tonsil) == 2  # answers 501 and 502
    assert len(kto) == len({json.dumps(r, sort_keys=True, ensure_ascii=False) for r in kto})
    sft = read_jsonl(tmp_path / "train.jsonl")
    chosen = [r for r in sft if r["instruction"].startswith("扁桃体发炎")]
    assert len(chosen) == 2  # chosen answers become SFT rows once each, not once per negative
    assert "Preference pairs" in (tmp_path / "report.md").read_text(encoding="utf-8")


def test_a_training_pair_whose_question_is_held_out_is_rejected(tmp_path):
    qa = tmp_path / "qa.jsonl"
    qa.write_text(json.dumps({"question": "高血压患者能喝咖啡吗？", "answer": "血压平稳时少量饮用一般可以。"},
                             ensure_ascii=False) + "\n", encoding="utf-8")
    pref = tmp_path / "pref.jsonl"
    pref.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in [
        {"question": "高血压患者能喝咖啡吗？", "response_chosen": "适量可以，注意监测血压。", "response_rejected": "绝对不行。"},
        {"question": "感冒要吃抗生素吗？", "response_chosen": "普通感冒多为病毒感染，不需要。", "response_rejected": "要吃。"},
    ]), encoding="utf-8")
    data = DataSection(sources=[{"format": "qa-jsonl", "path": str(qa), "split": "test"},
                                {"format": "medicalgpt-preference", "path": str(pref), "split": "train"}],
                       max_reject_share=1.0, val_size=0.0, test_size=0.0, dedupe={"near": False})
    summary = build(data, 42, tmp_path / "out")
    rejects = read_jsonl(tmp_path / "out" / "rejects.jsonl")
    assert [(r["line"], r["reason"]) for r in rejects] == [(1, "held-out question: also in the test split")]
    assert summary["per_source"]["pref"] == {"input": 2, "read": 2, "rejected": 1, "train": 1, "kept": 1}
    assert [p["instruction"] for p in read_jsonl(tmp_path / "out" / "medkit_pairs_train.jsonl")] == ["感冒要吃抗生素吗？"]


def test_make_convert_writes_ranking_and_kto(tmp_path, capsys):
    assert convert(["cmedqa2-pairs", "data/samples/cmedqa2_pairs", "--out", str(tmp_path)]) == 0
    assert "input 17 = kept 6 + rejected 11" in capsys.readouterr().out
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert info["cmedqa2_pairs_pairs"]["ranking"] is True and "kto_tag" in info["cmedqa2_pairs_kto"]["columns"]
    assert len(read_jsonl(tmp_path / "cmedqa2_pairs_pairs.jsonl")) == 6


def test_flattened_pairs_prefer_the_sections_over_the_same_text_without_headers(tmp_path):
    data = DataSection(sources=[{"format": "qa-jsonl", "path": "data/samples/en/qa_en.jsonl"}],
                       noise={"share": 0.3, "distractors": 1}, refusals={"count": 4,
                       "questions": "data/samples/en/out_of_scope_en.txt"}, pairs={"flattened": True, "kto": False},
                       val_size=0.0, test_size=0.0)
    summary = build(data, 42, tmp_path)
    ranking = read_jsonl(tmp_path / "medkit_pairs_train.jsonl")
    sectioned = [r for r in read_jsonl(tmp_path / "train.jsonl") if r["output"].startswith("【病情分析】")]
    cited = [r for r in sectioned if "[1]" in r["instruction"]]  # noise examples: left out
    assert cited and len(ranking) == len(sectioned) - len(cited) == summary["pairs"]["flattened-pairs"]
    assert not [p for p in ranking if p["chosen"] == DEFAULT_REFUSAL or "[1]" in p["instruction"]]
    first = ranking[0]
    assert first["chosen"].count("【") == 5 and "【" not in first["rejected"] and "\n" not in first["rejected"]
    kept_words = [w for w in first["chosen"].replace("】", "】 ").split() if not w.startswith("【")]
    assert kept_words == first["rejected"].split()  # the same words, the headers gone
    assert "flattened-pairs" in (tmp_path / "report.md").read_text(encoding="utf-8")


def test_every_english_out_of_scope_question_has_an_answer():
    questions = [q.strip() for q in (ROOT / "data/samples/en/out_of_scope_en.txt").read_text().splitlines()
                 if q.strip() and not q.startswith("#")]
    answers = pairs.load_answers(ROOT / "data/samples/en/out_of_scope_answers_en.txt")
    assert sorted(answers) == sorted(questions)
