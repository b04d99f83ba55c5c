"""Perplexity of the reference answers over HTTP (/tokenize + prompt_logprobs, as vLLM serves them);
the real-vLLM check is in test_eval_chain.py."""
from __future__ import annotations

import json
import math

import pytest

from tests.conftest import run_module
from tests.evaluation.conftest import eval_args, write_items


@pytest.mark.slow
def test_reference_perplexity_per_target_on_the_same_items(tmp_path, serve_fake):
    # base: every token log p = -1 (perplexity e); sft: -0.5 (perplexity e^0.5)
    _, url = serve_fake(lambda model, messages: "多喝水。", served=["plain", "five", "five-rag"],
                        logprob=lambda model: -1.0 if model == "plain" else -0.5)
    items = [{"id": "o1", "kind": "open", "prompt": "头痛怎么办？", "reference": "注意休息。"},
             {"id": "o2", "kind": "open", "prompt": "发热怎么办？", "reference": "多喝水，必要时就医。"},
             {"id": "o3", "kind": "open", "prompt": "咳嗽怎么办？", "reference": None},          # no reference: skipped
             {"id": "c1", "kind": "choice", "prompt": "选哪个？\nA. 甲\nB. 乙", "options": {"A": "甲", "B": "乙"},
              "answer": "A"}]
    sets = write_items(tmp_path / "set.jsonl", items)
    args = eval_args(tmp_path / "run", [sets], [("base", "plain", url), ("sft", "five", url),
                                                 ("sft+rag", "five-rag", url)], "eval.suites=[open,perplexity]")
    done = run_module("evaluation", *args)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = json.loads((tmp_path / "run" / "eval" / "results.json").read_text())
    base, sft = (results["suites"][t]["perplexity"] for t in ("base", "sft"))
    assert base["n"] == sft["n"] == 2 and base["tokens"] == len("注意休息。") + len("多喝水，必要时就医。")
    assert base["perplexity"] == pytest.approx(math.e) and sft["perplexity"] == pytest.approx(math.exp(0.5))
    assert "perplexity" not in results["suites"]["sft+rag"]
    assert any("perplexity: target 'sft+rag' skipped" in n for n in results["notes"])
    report = (tmp_path / "run" / "eval" / "report.md").read_text()
    assert "## Perplexity of the reference answers" in report and "| base | 2 | 15 | 2.72 |" in report
