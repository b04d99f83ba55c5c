"""Choice scoring by log-likelihood over HTTP (evaluation/loglikelihood.py) against the fake vLLM:
a token per character, every token log p = logprob(model). The agreement with lm-evaluation-harness on
real vLLM is test_lm_eval_agreement.py."""
from __future__ import annotations

import json

import httpx
import pytest

from evaluation import loglikelihood as L
from tests.conftest import run_module
from tests.evaluation.conftest import eval_args, write_items

CHOICE = {"id": "c1", "kind": "choice", "options": {"B": "钠-钾泵", "A": "单纯扩散"}, "answer": "B",
          "prompt": "维持细胞内外钾离子浓度差的主要机制是？\nA. 单纯扩散\nB. 钠-钾泵"}
LABEL = {"id": "l1", "kind": "label", "prompt": "Does aspirin lower fever?", "answer": "maybe"}
MULTI = {"id": "m1", "kind": "choice", "prompt": "选出正确的？\nA. 甲\nB. 乙", "options": {"A": "甲", "B": "乙"},
         "answer": "AB"}


def test_contexts_choices_and_gold_follow_lm_eval_conventions():
    assert L.doc(CHOICE) == {"id": "c1", "context": CHOICE["prompt"] + "\n答案：", "choices": ["A", "B"],
                             "gold": 1}
    assert L.doc(LABEL)["context"] == "Does aspirin lower fever?\nAnswer:" and L.doc(LABEL)["gold"] == 2
    assert L.doc(MULTI) is None


def test_picks_with_and_without_length_normalisation(serve_fake):
    # every continuation token log p = -1: " yes" -4, " no" -3, " maybe" -6; per character of the choice
    # (lm-eval's acc_norm) -4/3, -3/2, -6/5: the plain pick is "no", the normalised one "maybe"
    _, url = serve_fake(lambda model, messages: "", served=["m"])
    with httpx.Client() as client:
        row = L.score_doc(client, url, "m", L.doc(LABEL))
    assert row["logliks"] == [-4.0, -3.0, -6.0] and row["continuation_tokens"] == [4, 3, 6]
    assert (row["pick"], row["pick_norm"]) == (1, 2) and not row["correct"] and row["correct_norm"]
    summary = L.summarise([row], 1, {"fresh": 1, "seconds": 0.5})
    assert (summary["n"], summary["accuracy"], summary["acc_norm"], summary["multi_answer"]) == (1, 0.0, 1.0, 1)
    assert summary["items_per_s"] == 2.0


def test_whitespace_ending_the_context_moves_to_the_continuation(serve_fake):
    _, url = serve_fake(lambda model, messages: "", served=["m"])
    with httpx.Client() as client:
        [(head, tail), (_, other)] = L.encode_pairs(client, url, "m", "Q:  ", [" A", " BC"])
    assert head == [ord(c) for c in "Q:"] and tail == [ord(c) for c in "   A"] and other == [ord(c) for c in "   BC"]


@pytest.mark.slow
def test_make_eval_scores_choices_by_loglikelihood_only_when_asked(tmp_path, serve_fake):
    fake, url = serve_fake(lambda model, messages: "【病情分析】多喝水。", served=["plain", "five", "five-rag"],
                           logprob=lambda model: -1.0 if model == "plain" else -0.5)
    open_item = {"id": "o1", "kind": "open", "prompt": "头痛怎么办？", "reference": "注意休息。"}
    sets = write_items(tmp_path / "set.jsonl", [CHOICE, LABEL, MULTI, open_item])
    args = eval_args(tmp_path / "run", [sets], [("base", "plain", url), ("sft", "five", url),
                                                 ("sft+rag", "five-rag", url)],
                     "eval.choice_scoring=loglikelihood", "eval.suites=[choice,open,safety]")
    done = run_module("evaluation", *args)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    asked = {m["content"] for r in fake.requests for m in r["messages"] if m["role"] == "user"}
    assert asked == {"头痛怎么办？"}  # choice and label items were not generated
    out = tmp_path / "run" / "eval"
    results = json.loads((out / "results.json").read_text())
    ll = results["suites"]["base"]["loglikelihood"]
    assert (ll["n"], ll["multi_answer"]) == (2, 1) and "choice" not in results["suites"]["base"]
    assert "loglikelihood" not in results["suites"]["sft+rag"]
    assert any("log-likelihood: target 'sft+rag' skipped" in n for n in results["notes"])
    assert "accuracy (log-lik.)" in results["paired"]["targets"]["sft"]
    assert results["headline"]["base"]["acc_norm (log-lik.)"] == ll["acc_norm"]
    rows = [json.loads(line) for line in (out / "loglikelihood" / "sft.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == ["c1", "l1"]
    task = json.loads((out / "loglikelihood" / "lm_eval" / "medkit_choice.yaml").read_text())
    assert task["output_type"] == "multiple_choice" and task["doc_to_choice"] == "choices"
    report = (out / "report.md").read_text()
    assert "## Multiple choice by log-likelihood" in report and "| base | 2 |" in report


@pytest.mark.slow
def test_an_endpoint_without_prompt_logprobs_fails_naming_the_target_and_the_setting(tmp_path, serve_fake):
    _, url = serve_fake(lambda model, messages: "B", served=["plain"])
    _, other = serve_fake(lambda model, messages: "B", served=["plain"], tokenizer=False)
    sets = write_items(tmp_path / "set.jsonl", [CHOICE])
    args = eval_args(tmp_path / "run", [sets], [("base", "plain", url), ("plain-api", "plain", other)],
                     "eval.choice_scoring=both", "eval.suites=[choice]")
    done = run_module("evaluation", *args)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"target 'plain-api' ({other}): eval.choice_scoring 'both' needs token log-probabilities" in done.stderr
    assert "use eval.choice_scoring: generate for this endpoint" in done.stderr
    results = json.loads((tmp_path / "run" / "eval" / "results.json").read_text())
    assert results["suites"]["base"]["loglikelihood"]["n"] == 1  # the other target still scored


@pytest.mark.slow
def test_generate_scoring_leaves_no_loglikelihood_results(tmp_path, serve_fake):
    _, url = serve_fake(lambda model, messages: "B", served=["plain"])
    sets = write_items(tmp_path / "set.jsonl", [CHOICE])
    args = eval_args(tmp_path / "run", [sets], [("base", "plain", url)], "eval.choice_scoring=generate",
                     "eval.suites=[choice]")
    done = run_module("evaluation", *args)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((tmp_path / "run" / "eval" / "results.json").read_text())
    assert "loglikelihood" not in results["suites"]["base"] and results["suites"]["base"]["choice"]["accuracy"] == 1
