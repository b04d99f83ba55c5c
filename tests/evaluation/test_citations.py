"""Citation recall / precision and hallucination on constructed answers."""
from __future__ import annotations

import pytest

from evaluation.citations import answer_scores, bigrams, cited, hit, sentences, support

SOURCES = [{"index": 1, "snippet": "高血压患者应低盐饮食，每天食盐不超过5克。", "metadata": {"doc_id": "d1"}},
           {"index": 2, "snippet": "规律运动有助于控制血压…", "metadata": {"doc_id": "d2"}},
           {"index": 3, "snippet": "甲乙丙丁", "metadata": {"doc_id": "d3"}},
           {"index": 4, "snippet": "戊己庚辛", "metadata": {"doc_id": "d4"}}]


def scores(answer: str, threshold: float = 0.5) -> dict:
    return answer_scores(answer, SOURCES, threshold)


def test_citation_marks_and_sentences():
    assert cited("见[1]和[2, 3]，以及［4］") == [1, 2, 3, 4]
    assert cited("见[1-3][1]") == [1, 2, 3]
    # headers removed, the disclaimer section left out, a trailing mark joins the sentence before it
    answer = "【病情分析】\n高血压要低盐。[1]运动也有用[2]。\n【免责声明】\n以上内容仅供参考。"
    assert sentences(answer) == ["高血压要低盐。[1]", "运动也有用[2]。"]


def test_support_is_the_share_of_sentence_bigrams_found():
    # 高血压要低盐: bigrams 高血 血压 压要 要低 低盐 (5); in source 1: 高血 血压 低盐 -> 3/5
    assert len(bigrams("高血压要低盐[1]。")) == 5
    assert support("高血压要低盐[1]。", [SOURCES[0]["snippet"]]) == pytest.approx(3 / 5)
    assert support("。", ["任何"]) == 0.0


def test_correct_citation_is_recalled_and_precise():
    result = scores("高血压患者应低盐饮食[1]。规律运动有助于控制血压[2]。")
    assert result == {"sentences": 2, "cited_sentences": 2, "citations": 2, "citation_recall": 1.0,
                      "citation_precision": 1.0, "hallucination": 0.0}


def test_wrong_citation_counts_against_recall_and_precision_not_hallucination():
    result = scores("高血压患者应低盐饮食[2]。")
    assert result["citation_recall"] == 0.0 and result["citation_precision"] == 0.0
    assert result["hallucination"] == 0.0        # source 1 supports it, whatever was cited


def test_over_citation_lowers_precision_only():
    # [1] supports alone; [2] supports nothing alone and [1] still supports without it -> [2] not needed
    result = scores("高血压患者应低盐饮食[1][2]。")
    assert result["citation_recall"] == 1.0 and result["citation_precision"] == pytest.approx(0.5)


def test_citations_needed_together_both_count():
    # 甲乙丙丁戊己庚辛: 7 bigrams; [3] covers 3, [4] covers 3 (each 3/7 < 0.5), together 6/7
    result = scores("甲乙丙丁戊己庚辛[3][4]。")
    assert result["citation_recall"] == 1.0 and result["citation_precision"] == 1.0
    assert result["hallucination"] == 0.0        # supported by its cited sources together


def test_a_citation_to_a_source_that_does_not_exist_scores_as_alce():
    # [5] with 4 sources: recall 0 for the sentence although [1] supports it; both citations
    # count in precision's denominator, neither is credited
    result = scores("高血压患者应低盐饮食[1][5]。")
    assert result["citation_recall"] == 0.0 and result["citation_precision"] == 0.0
    assert result["citations"] == 2 and result["hallucination"] == 0.0   # source 1 supports it
    assert scores("高血压患者应低盐饮食[1]。")["citation_recall"] == 1.0


def test_uncited_and_invented_sentences():
    result = scores("高血压患者应低盐饮食。每天喝三升咖啡可以治愈高血压[1]。")
    # sentence 1 supported but uncited; sentence 2 invented, its citation does not support it
    assert result["citation_recall"] == 0.0 and result["citation_precision"] == 0.0
    assert result["hallucination"] == pytest.approx(0.5) and result["cited_sentences"] == 1
    assert scores("多喝水。")["citation_precision"] == 0.0   # cites nothing: precision 0 as in ALCE
    assert answer_scores("【免责声明】\n仅供参考。", SOURCES, 0.5) is None


def test_threshold_decides_support():
    # 3/5 of the bigrams are in source 1: supported at 0.5, not at 0.8
    assert scores("高血压要低盐[1]。", 0.5)["citation_recall"] == 1.0
    assert scores("高血压要低盐[1]。", 0.8)["citation_recall"] == 0.0


def test_hit_at_k_only_where_gold_is_known():
    assert hit({"gold_doc_ids": ["d2"]}, SOURCES) is True
    assert hit({"gold_doc_ids": ["d9"]}, SOURCES) is False
    assert hit({"gold_passages": ["规律运动有助于控制血压，每周至少150分钟。"]}, SOURCES) is True  # snippet is its prefix
    assert hit({}, SOURCES) is None
