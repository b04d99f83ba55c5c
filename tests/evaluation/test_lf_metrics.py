"""eval.rouge_tokenizer = llamafactory reproduces LLaMA-Factory's compute_metrics: every figure equals
what the real jieba + rouge_chinese + nltk gave on the same pairs (tests/evaluation/data/
llamafactory_reference.json, written by make_llamafactory_reference.py beside it)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation.lf_metrics import bleu_method3, cut_sentences, rouge_f, scores

REFERENCE = json.loads((Path(__file__).parent / "data" / "llamafactory_reference.json").read_text(encoding="utf-8"))
KEYS = {"rouge-1": "rouge1", "rouge-2": "rouge2", "rouge-l": "rougeL", "bleu-4": "bleu4"}


@pytest.mark.parametrize("pair", REFERENCE["pairs"], ids=lambda p: p["predict"][:12] or "empty")
def test_equals_the_real_packages(pair):
    ours = scores(pair["label"], pair["predict"])
    for theirs, mine in KEYS.items():
        assert round(ours[mine] * 100, 4) == pair[theirs], (theirs, ours)


def test_the_reference_pairs_exercise_every_branch():
    pairs = REFERENCE["pairs"]
    assert len(pairs) >= 20
    assert any(p["rouge-1"] == 0 and p["label"] and not p["predict"] for p in pairs)     # empty prediction
    assert any(p["bleu-4"] == 0 for p in pairs) and any(p["bleu-4"] == 100 for p in pairs)
    assert any(0 < p["bleu-4"] < 10 for p in pairs)                                         # method3 smoothing


def test_formulas_by_hand():
    # distinct unigrams: hyp {a, b} (a twice), ref {a, c}: p = 1/2, r = 1/2, f = 2·¼/(1+1e-8)
    assert rouge_f("a a b", "a c")["rouge-1"] == pytest.approx(0.5, abs=1e-7)
    # LCS counts duplicates: hyp a a b, ref a a: lcs 2, p = 2/3, r = 1
    assert rouge_f("a a b", "a a")["rouge-l"] == pytest.approx(0.8, abs=1e-7)
    assert cut_sentences("好 。 再见 ！ 嗯") == ["好 。", "再见 ！", "嗯"]
    # BLEU: identical strings of 4+ characters score 1; of 3, the missing 4-gram is smoothed to 1/2:
    # (1·1·1·½)^¼; a prediction sharing no character scores 0
    assert bleu_method3("多喝水吧", "多喝水吧") == pytest.approx(1.0)
    assert bleu_method3("多喝水", "多喝水") == pytest.approx(0.5 ** 0.25) and bleu_method3("多喝水", "休息") == 0.0
