"""ROUGE with Chinese tokenisation and character BLEU-4, against figures computed by hand."""
from __future__ import annotations

import math

import pytest
from rouge_score import rouge_scorer

from evaluation.overlap import CharTokenizer, JiebaTokenizer, bleu4, char_bleu4, rouge

REF = "高血压患者应低盐饮食"
PRED = "高血压病人要低盐饮食"


def test_default_rouge_tokenizer_scores_chinese_zero_which_is_why_we_pass_one():
    plain = rouge_scorer.RougeScorer(["rouge1"]).score(REF, PRED)["rouge1"].fmeasure
    assert plain == 0.0


def test_char_rouge_exact_on_a_small_case():
    # 10 characters each; shared: 高 血 压 低 盐 饮 食 (7)            -> ROUGE-1 = 7/10
    # bigrams 9 each; shared: 高血 血压 低盐 盐饮 饮食 (5)             -> ROUGE-2 = 5/9
    # longest common subsequence 高血压 + 低盐饮食 (7)                 -> ROUGE-L = 7/10
    scores = rouge(REF, PRED, "char")
    assert scores["rouge1"] == pytest.approx(0.7)
    assert scores["rouge2"] == pytest.approx(5 / 9)
    assert scores["rougeL"] == pytest.approx(0.7)


def test_char_rouge_precision_and_recall_differ_with_lengths():
    # ref 高血压 (3), pred 高血压高 (4): unigram overlap 3 (clipped) -> P 3/4, R 1, F 6/7
    assert rouge("高血压", "高血压高", "char")["rouge1"] == pytest.approx(6 / 7)
    assert rouge("高血压", "", "char") == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    assert rouge("高血压", "高血压", "char")["rougeL"] == pytest.approx(1.0)


def test_char_tokenizer_drops_punctuation_keeps_ascii_words():
    assert CharTokenizer().tokenize("CT示：38.5度，【病情】 OK") == ["ct", "示", "38", "5", "度", "病", "情", "ok"]


def test_jieba_word_level_is_an_option_and_differs():
    words = JiebaTokenizer().tokenize("高血压患者应低盐饮食")
    assert "高血压" in words and "，" not in words
    word_level = rouge(REF, PRED, "jieba")
    assert 0 < word_level["rouge1"] < rouge(REF, PRED, "char")["rouge1"]
    assert rouge(REF, REF, "jieba")["rouge2"] == pytest.approx(1.0)


def test_bleu4_hand_computed():
    # ref 高血压要低盐饮食, hyp 高血压应低盐饮食 (8 characters each, BP = 1)
    # p1 = 7/8; p2 = (5+1)/(7+1) = 3/4; p3 = (3+1)/(6+1) = 4/7; p4 = (1+1)/(5+1) = 1/3
    # BLEU = (7/8 * 3/4 * 4/7 * 1/3) ** (1/4) = (1/8) ** (1/4)
    assert char_bleu4("高血压要低盐饮食", "高血压应低盐饮食") == pytest.approx(0.125 ** 0.25)


def test_bleu4_brevity_penalty_and_short_hypothesis():
    # hyp 高血压 (3) vs ref 高血压要低盐饮食 (8): p1 = 1, p2 = (2+1)/(2+1), p3 = (1+1)/(1+1),
    # p4 = (0+1)/(max(1, 0)+1) = 1/2; BP = exp(1 - 8/3)
    assert char_bleu4("高血压要低盐饮食", "高血压") == pytest.approx(math.exp(1 - 8 / 3) * 0.5 ** 0.25)
    assert char_bleu4("高血压", "糖尿病") == 0.0          # no unigram in common
    assert char_bleu4("高血压", "") == 0.0
    assert char_bleu4("高血压患者应低盐饮食", "高血压患者应低盐饮食") == pytest.approx(1.0)


def test_bleu4_matches_nltk_smoothing_method2():
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
    pairs = [("高血压患者应低盐饮食，适量运动", "高血压病人要低盐饮食并且运动"),
             ("建议到医院做胃镜检查", "建议做胃镜"), ("ab", "abcabcabc")]
    for ref, hyp in pairs:
        expected = sentence_bleu([list(ref)], list(hyp), smoothing_function=SmoothingFunction().method2)
        assert bleu4(list(ref), list(hyp)) == pytest.approx(expected)


def test_char_tokens_keep_greek_letters_micro_and_math_symbols():
    assert CharTokenizer().tokenize("β受体 µg ≥7.0 5%") == ["β", "受", "体", "μg", "≥", "7", "0", "5", "%"]
    for mode in ("char", "jieba"):
        assert rouge("可使用β受体阻滞剂", "可使用α受体阻滞剂", mode)["rouge1"] < 1.0, mode
    assert rouge("空腹血糖≥7.0", "空腹血糖≤7.0", "char")["rouge1"] < 1.0


def test_overlap_modes_say_what_they_compute():
    from evaluation.overlap import MODES, overlap
    assert MODES == ("char", "jieba", "llamafactory")
    char = overlap("高血压要低盐饮食", "高血压应低盐饮食", "char")
    assert char["bleu4"] == pytest.approx(0.125 ** 0.25) and char["rouge1"] == pytest.approx(7 / 8)
    lf = overlap("高血压要低盐饮食", "高血压应低盐饮食", "llamafactory")
    assert set(lf) == {"rouge1", "rouge2", "rougeL", "bleu4"} and lf != char
