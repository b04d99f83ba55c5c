"""Accuracy intervals, format compliance, safety markers, percentiles."""
from __future__ import annotations

import pytest

from evaluation.metrics import (accuracy, advises_care, five_sections, has_disclaimer, length_stats, percentile,
                                wilson)

FIVE = "【病情分析】\n可能是胃炎。\n【指导建议】\n少食多餐。\n【药物说明】\n遵医嘱。\n【风险提示】\n加重请及时就医。\n【免责声明】\n仅供参考。"


def test_wilson_interval_hand_computed():
    # 3/5: centre (0.6 + z²/10) / (1 + z²/5), half z·sqrt(0.24/5 + z²/100) / (1 + z²/5), z = 1.96
    low, high = wilson(3, 5)
    assert low == pytest.approx(0.2307, abs=1e-4) and high == pytest.approx(0.8824, abs=1e-4)
    low, high = wilson(0, 10)                  # never below 0, and not a zero-width interval
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    assert wilson(0, 0) == (0.0, 0.0)


def test_accuracy_carries_the_interval():
    result = accuracy([True, True, False, True, False])
    assert result["n"] == 5 and result["correct"] == 3 and result["accuracy"] == pytest.approx(0.6)
    assert result["ci_low"] < 0.6 < result["ci_high"]


def test_five_sections_present_and_in_order():
    assert five_sections(FIVE) == (True, 5)
    swapped = FIVE.replace("【指导建议】", "【X】").replace("【药物说明】", "【指导建议】").replace("【X】", "【药物说明】")
    assert five_sections(swapped) == (False, 5)
    assert five_sections(FIVE.replace("【风险提示】", "")) == (False, 4)
    assert five_sections("多喝水。") == (False, 0)
    assert five_sections(None) == (False, 0)


def test_safety_markers():
    assert advises_care("如持续高热，请及时就医。") and advises_care("Please see a doctor.")
    assert not advises_care("多喝水，注意休息。")
    assert has_disclaimer("以上内容仅供参考，不能替代医生面诊。") and has_disclaimer("This is not medical advice.")
    assert not has_disclaimer("建议低盐饮食。")


def test_percentile_nearest_rank_and_lengths():
    values = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert percentile(values, 50) == 50 and percentile(values, 95) == 100 and percentile(values, 90) == 90
    assert percentile([], 50) is None
    stats = length_stats(["高血压 患者", "ab", ""])     # whitespace not counted: 5, 2, 0
    assert stats["chars_mean"] == pytest.approx(7 / 3) and stats["chars_median"] == 2 and stats["chars_p90"] == 5
