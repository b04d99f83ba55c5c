"""Grounded knowledge (converters/grounded.py) and retrieval-aware training data (data.noise, RAFT-style),
on the bundled Chinese sample and the qa sample, through the real data build."""
from __future__ import annotations

import json
import random

import pytest
from pydantic import ValidationError

from converters import grounded
from converters.build import build_examples, knowledge_of
from converters.common import Document, Example, Reject
from converters.example_meta import question_of
from core.rag_prompt import WORDINGS
from core.recipe.schema import DataSection
from tests.conftest import ROOT

SAMPLE = ROOT / "data" / "samples" / "knowledge" / "facts_zh.jsonl"
SYSTEM = "你是一名专业的医生，请按五个部分回答。"


def data_section(**changes) -> DataSection:
    settings = {"sources": [{"format": "grounded-jsonl", "path": str(SAMPLE)},
                            {"format": "qa-jsonl", "path": str(ROOT / "data" / "samples" / "qa.jsonl")}],
                "system_prompt": SYSTEM, "test_size": 0.0, "val_size": 0.0, "five_section": {"enabled": True},
                "refusals": {"count": 10, "with_context": 0.5},
                "noise": {"share": 0.5, "distractors": 2, "distractors_only": 0.25}, "without_system": 0.3}
    settings.update(changes)
    return DataSection.model_validate(settings)


def test_each_line_gives_its_passage_and_its_question_in_the_lines_split():
    records = list(grounded.read(SAMPLE))
    documents = [r for r in records if isinstance(r, Document)]
    examples = [r for r in records if isinstance(r, Example)]
    assert len(documents) == len(examples) == 30 and not [r for r in records if isinstance(r, Reject)]
    first = json.loads(SAMPLE.read_text(encoding="utf-8").splitlines()[0])
    assert documents[0].text == first["passage"] and documents[0].title == first["title"]
    assert documents[0].metadata == {"kind": "knowledge", "topic": first["topic"].lower(), "passage_id": first["id"]}
    assert examples[0].instruction == first["question"] and examples[0].meta["split"] == first["split"]
    assert examples[0].meta["grounded"]["facts"] == first["facts"]


def test_bad_lines_are_rejects_with_their_line_and_reason(tmp_path):
    good = json.loads(SAMPLE.read_text(encoding="utf-8").splitlines()[0])
    rows = [good, {**good, "facts": ["不在文中的事实"]}, {**good, "id": "x2", "split": "dev"},
            {**good, "id": "x3", "facts": []}, good, {**good, "id": "x5", "passage": ""}]
    path = tmp_path / "k.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    rejects = [(r.line, r.reason.split(":")[0]) for r in grounded.read(path) if isinstance(r, Reject)]
    assert rejects == [(2, "fact '不在文中的事实' is not in the passage"), (3, "split 'dev' is not one of train, validation, test"),
                       (4, "'facts' must be a list of 1-3 non-empty strings (the key phrases that carry the answer)"),
                       (5, f"duplicate id {good['id']!r}"), (6, "missing or empty 'passage'")]


@pytest.fixture(scope="module")
def built():
    data = data_section()
    return data, build_examples(data, seed=7, language="zh")


def test_shares_of_the_open_training_examples_get_the_passage_distractors_only_or_nothing(built):
    data, result = built
    train = result.splits["train"]
    opened = [ex for ex in train if ex.meta.get("kind") not in ("refusal",) and "answer" not in ex.meta]
    kinds = [ex.meta.get("kind") for ex in opened]
    assert kinds.count("noisy-context") == round(len(opened) * 0.5)
    assert kinds.count("distractor-context") == round(len(opened) * 0.25)
    knowledge = knowledge_of(result.documents)
    note = WORDINGS["zh"].not_covered
    for ex in train:
        passage = knowledge[ex.meta["grounded"]["passage_id"]] if "grounded" in ex.meta else None
        if ex.meta.get("kind") == "noisy-context":
            gold = ex.meta["gold_index"]
            assert ex.instruction.count("\n[") == 3 and f"[{gold}]" in ex.output and note not in ex.output
            if passage:  # the knowledge passage, numbered as cited, titled by its topic, never the question
                assert f"[{gold}] {passage.title}\n{passage.text}" in ex.instruction
                assert question_of(ex) not in passage.title
        elif ex.meta.get("kind") == "distractor-context":
            assert ex.instruction.count("\n[") == 3 and not any(f"[{n}]" in ex.output for n in (1, 2, 3))
            assert note in ex.output.split("\n")[1]  # opens the first section, then answers
            if passage:
                assert passage.text not in ex.instruction


def test_held_out_passages_never_reach_training_prompts_and_a_share_trains_without_a_system_message(built):
    data, result = built
    test_passages = [ex.meta["grounded"]["passage_id"] for ex in result.splits["test"] if "grounded" in ex.meta]
    assert test_passages  # the sample's test lines
    knowledge = knowledge_of(result.documents)
    prompts = "\n".join(ex.instruction for ex in result.splits["train"])
    assert not [pid for pid in test_passages if knowledge[pid].text in prompts]
    systems = [ex.system for ex in result.splits["train"]]
    assert systems.count("") == round(sum(s in ("", SYSTEM) for s in systems) * 0.3) > 0


def test_shares_that_add_up_to_more_than_one_fail_validation_naming_the_keys():
    with pytest.raises(ValidationError) as err:
        data_section(noise={"share": 0.8, "distractors": 2, "distractors_only": 0.3})
    assert "data.noise.share (0.8) + data.noise.distractors_only (0.3) is more than 1" in str(err.value)


def test_preference_pairs_answer_medical_questions_refuse_the_rest_and_cite_the_passage_that_holds_it(tmp_path):
    data = data_section(pairs={"refusals": True, "answers": True, "citations": True, "kto": False})
    result = build_examples(data, seed=7, language="zh")
    made = {}
    for pair in result.derived["train"]:
        made.setdefault(pair.meta["dataset"], []).append(pair)
    refusal = data.refusals.text or __import__("converters.prep.refusals", fromlist=["x"]).DEFAULT_REFUSAL
    assert made["answer-pairs"] and all(p.meta["rejected"] == refusal and p.output != refusal
                                        for p in made["answer-pairs"])
    assert made["refusal-pairs"] and all(p.output == refusal for p in made["refusal-pairs"])
    noisy = {ex.instruction: ex for ex in result.splits["train"] if ex.meta.get("kind") == "noisy-context"}
    assert len(made["citation-pairs"]) == len(noisy)
    for pair in made["citation-pairs"]:
        gold = noisy[pair.instruction].meta["gold_index"]
        assert f"[{gold}]" in pair.output and f"[{gold}]" not in pair.meta["rejected"]
        assert pair.meta["rejected"].replace(f"[{gold % 3 + 1}]", f"[{gold}]") == pair.output
    order = [p.meta["dataset"] for p in result.derived["train"]]
    assert order != sorted(order, key=["refusal-pairs", "answer-pairs", "citation-pairs"].index)  # mixed


def test_eval_items_carry_the_facts_and_the_passages_doc_id(tmp_path):
    from converters.build import build
    build(data_section(test_size=0.3), seed=7, out=tmp_path, language="zh")
    items = [json.loads(line) for line in (tmp_path / "eval" / "facts_zh.jsonl").read_text("utf-8").splitlines()]
    corpus = {json.loads(line)["id"]: json.loads(line) for line in (tmp_path / "corpus.jsonl").read_text("utf-8").splitlines()}
    assert items
    for item in items:
        doc = corpus[item["gold_doc_ids"][0]]
        assert doc["metadata"]["passage_id"] == item["passage_id"] and all(f in doc["text"] for f in item["facts"])
    assert not [d for d in corpus.values() if d["title"] and d["title"] in {i["question"] for i in items}]


def test_without_answer_as_passage_only_knowledge_passages_answer_and_other_questions_learn_the_uncovered_case():
    data = data_section(noise={"share": 0.3, "distractors": 2, "distractors_only": 0.3, "answer_as_passage": False})
    train = build_examples(data, seed=7, language="zh").splits["train"]
    opened = [ex for ex in train if ex.meta.get("kind") != "refusal" and "answer" not in ex.meta]
    oracle = [ex for ex in opened if ex.meta.get("kind") == "noisy-context"]
    assert oracle and all("grounded" in ex.meta for ex in oracle)
    assert len(oracle) == min(round(len(opened) * 0.3), sum("grounded" in ex.meta for ex in opened))
    uncovered = [ex for ex in opened if ex.meta.get("kind") == "distractor-context"]
    assert len(uncovered) == round(len(opened) * 0.3) and any("grounded" not in ex.meta for ex in uncovered)
