"""The grounded suite's scoring (evaluation/grounded.py) on fixed answers, its report section, the
no-system variant's requests, and `make eval` refusing an index that lacks the suite's passages."""
from __future__ import annotations

import pytest

from core.errors import StageFailed
from core.layout import RunLayout
from core.recipe.load import load_recipe
from evaluation import grounded, suites
from evaluation.evaluate import check_grounded_passages
from evaluation.report_grounded import section_grounded
from evaluation.results import EvalResults
from evaluation.runner import Target
from serve.rag.store import save_bm25
from tests.conftest import ROOT

ITEM = {"id": "q1", "kind": "open", "facts": ["500 mg", "every 8 hours"], "topic": "amoxicillin",
        "gold_doc_ids": ["gold"], "prompt": "How much amoxicillin?"}


def source(index: int, doc_id: str, topic: str, snippet: str) -> dict:
    return {"index": index, "title": "", "snippet": snippet, "score": 1.0,
            "metadata": {"doc_id": doc_id, "topic": topic}}


SOURCES = [source(1, "other", "amoxicillin", "Amoxicillin can cause a rash; stop it if hives appear."),
           source(2, "gold", "amoxicillin", "Adults usually take 500 mg every 8 hours."),
           source(3, "qa", "", "Drink fluids and rest.")]


@pytest.mark.parametrize("answer,expected", [
    # the fact, citing the passage that states it
    ("Adults take 500 mg Every  8 hours [2].", dict(fact=True, cites=True, citation_precision=1.0,
                                                   contradicted=False, hit=True)),
    # the fact, citing the gold passage and a same-topic sibling: half the citations hold it, contradicted
    ("Adults take 500 mg every 8 hours [1][2].", dict(fact=True, cites=True, citation_precision=0.5,
                                                     contradicted=True, hit=True)),
    # half the fact, and a citation of a passage that is not among the sources: not citing
    ("Take 500 mg [4].", dict(fact=False, cites=False, citation_precision=None, contradicted=False, hit=True)),
    # the right words citing the wrong, off-topic source
    ("500 mg every 8 hours [3].", dict(fact=True, cites=True, citation_precision=0.0, contradicted=False, hit=True)),
])
def test_fixed_answers_score_as_the_rules_say(answer, expected):
    assert grounded.score(ITEM, answer, SOURCES) == {f"grounded_{k}": v for k, v in expected.items()}


def test_without_retrieval_only_the_fact_is_read_and_a_snippet_holding_the_fact_counts_as_support():
    assert grounded.score(ITEM, "500 mg every 8 hours", None) == {"grounded_fact": True}
    copy = [source(1, "copy", "", "In adults: 500 mg every 8 hours.")]
    assert grounded.score(ITEM, "500 mg every 8 hours [1]", copy)["grounded_citation_precision"] == 1.0


def test_the_suite_aggregates_answers_and_the_report_shows_it():
    rows = [{"id": str(i), "kind": "open", "refused": False, "not_covered": False, **grounded.score(ITEM, a, SOURCES)}
            for i, a in
            enumerate(["500 mg every 8 hours [2].", "500 mg every 8 hours [1][2].", "I am not sure.", "500 mg [3]."])]
    found = grounded.aggregate(rows)
    assert (found["n"], found["facts_given"], found["fact_accuracy"]) == (4, 2, 0.5)
    assert found["answers_citing"] == 0.75 and found["citation_precision"] == pytest.approx(0.5)
    assert found["contradicted"] == 0.25 and found["hit_at_k"] == 1.0 and found["fact_when_hit"] == 0.5
    assert 0.15 < found["ci_low"] < 0.5 < found["ci_high"] < 0.85
    results = EvalResults(recipe="r", run_dir="runs/r", created="now", params={}, rouge_tokenizer="char", items={},
                          targets=[], suites={"sft+rag": {"grounded": found}}, headline={})
    table = "\n".join(section_grounded(results, ["sft+rag"], lambda x, key: ""))
    assert "| sft+rag | 4 | 50.0 |" in table and "| 0.0 | 0.0 | 75.0 | 50.0 | 25.0 | 100.0 | 50.0 |" in table


def test_nosystem_sends_open_and_out_of_scope_items_without_a_system_message():
    items = [{"id": "o", "kind": "open", "prompt": "p", "system": "S"}, {"id": "r", "kind": "refusal", "prompt": "p",
                                                                         "system": "S"},
             {"id": "c", "kind": "choice", "prompt": "p", "system": "S"}, {**ITEM, "system": "S"}]
    planned = suites.plan(items, ["open", "nosystem"], "minimal")["main"]
    bare = [r for r in planned if r.variant == "bare"]
    assert [r.item_id for r in bare] == ["o", "r"] and all(r.messages == [{"role": "user", "content": "p"}]
                                                          for r in bare)
    assert all(r.messages[0] == {"role": "system", "content": "S"} for r in planned if r.variant == "full")


def test_make_eval_refuses_an_index_without_the_grounded_passages(tmp_path):
    recipe = load_recipe(ROOT / "recipes/smollm2-135m_cpu_lora.yaml", [f"run_dir={tmp_path}"])
    index = RunLayout.of(recipe).index
    rag = [Target("sft+rag", "smol-med-rag", "http://127.0.0.1:9/v1", None)]
    items = [{**ITEM, "passage_id": "drug-amoxicillin-dose"}, {**ITEM, "id": "q2", "gold_doc_ids": ["held"]}]
    check_grounded_passages(recipe, recipe.eval, items, rag)  # no index built here: the gateway reports it
    save_bm25(index, [{"id": "held-0", "doc_id": "held", "title": "", "text": "x", "metadata": {}}], {})
    with pytest.raises(StageFailed) as err:
        check_grounded_passages(recipe, recipe.eval, items, rag)
    assert "passages drug-amoxicillin-dose (1 item(s)) are not in the index" in str(err.value)
    assert err.value.code == 2 and "make index" in str(err.value)
    check_grounded_passages(recipe, recipe.eval, items, [Target("sft", "smol-med", "http://127.0.0.1:9/v1", None)])
