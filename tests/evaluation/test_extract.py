"""Answer extraction on real-looking model outputs."""
from __future__ import annotations

import pytest

from evaluation.extract import conflicting_choice, conflicting_label, extract_choice, extract_label
from evaluation.refusal import is_refusal

OPTIONS = {"A": "单纯扩散", "B": "钠-钾泵的主动转运", "C": "通道介导的易化扩散", "D": "载体介导的易化扩散",
           "E": "胞吐作用"}

CHOICE_CASES = [
    ("答案：B", "B"),
    ("答案是B。", "B"),
    ("正确答案为（B）", "B"),
    ("答案：B. 钠-钾泵的主动转运", "B"),
    ("【答案】B\n【解析】钠-钾泵逆浓度梯度转运钾离子。", "B"),
    ("选B", "B"),
    ("应选C，因为通道蛋白介导易化扩散。", "C"),
    ("故选：D", "D"),
    ("不选A，选E", "E"),
    ("B项正确，钠-钾泵消耗ATP。", "B"),
    ("B", "B"),
    ("B.", "B"),
    ("(B)", "B"),
    ("Ｂ", "B"),                                   # full-width letter
    ("ABD", "ABD"),
    ("A、B、D", "ABD"),
    ("最佳答案：A、D", "AD"),
    ("DA", "AD"),                                  # sorted
    ("B 钠-钾泵的主动转运", "B"),
    ("D。载体介导的易化扩散需要载体蛋白。", "D"),
    ("The answer is B.", "B"),
    ("Answer: (D)", "D"),
    ("我认为正确的是(E)胞吐作用", "E"),
    ("维持细胞内外钾离子浓度差主要依靠钠-钾泵的主动转运。", "B"),   # the option text itself
    ("所以答案是A……不对，最终答案是C", "C"),          # the last explicit statement wins
    # invalid: nothing usable, or a letter that is no option
    ("答案：F", None),
    ("【病情分析】\n这道题考察细胞膜的物质转运。", None),
    ("A patient with fever should drink water.", None),
    ("A和B都不对", None),
    ("the answer is a combination of factors", None),
    ("", None),
    ("扩散和易化扩散都不需要能量。", None),          # no option named in full
]


@pytest.mark.parametrize("reply,expected", CHOICE_CASES)
def test_extract_choice(reply, expected):
    assert extract_choice(reply, OPTIONS) == expected


def test_extract_choice_longest_option_text_wins():
    options = {"A": "肌钙蛋白", "B": "肌钙蛋白T", "C": "肌红蛋白"}
    assert extract_choice("最早升高的是肌钙蛋白T。", options) == "B"
    assert extract_choice("肌红蛋白和肌钙蛋白都会升高", options) is None  # two options named: no answer


def test_letters_outside_the_options_are_invalid():
    assert extract_choice("答案：E", {"A": "是", "B": "否", "C": "不确定", "D": "都不是"}) is None
    assert extract_choice("C", {"A": "x1", "B": "x2"}) is None


@pytest.mark.parametrize("reply, conflicting", [
    ("答案：B。再想想，最终答案：D", False),          # a change of mind: D is the answer
    ("答案是B。答案是D。", True),                    # two answers, no change of mind
    ("答案是B或C", True),                            # a hedge between options
    ("The answer is A, although it could be between B and D.", True),
    ("我不太确定这道题。", False),                     # states nothing: invalid, not conflicting
    ("答案：B", False),
    ("", False),
])
def test_conflicting_choice_replies_are_told_apart_from_empty_ones(reply, conflicting):
    assert conflicting_choice(reply, OPTIONS) is conflicting
    if conflicting:
        assert extract_choice(reply, OPTIONS) is None  # conflicting is a kind of invalid


@pytest.mark.parametrize("reply, conflicting", [
    ("Answer: yes. Final answer: no.", True),
    ("The answer is yes or maybe.", True),
    ("Yes, the trial showed a benefit, so overall, no.", False),  # the conclusion decides
    ("I cannot tell from this abstract.", False),
    ("Final decision: maybe", False),
])
def test_conflicting_label_replies(reply, conflicting):
    assert conflicting_label(reply) is conflicting
    if conflicting:
        assert extract_label(reply) is None


LABEL_CASES = [
    ("Yes, the trial showed a significant benefit.", "yes"),
    ("No.", "no"),
    ("Maybe. The evidence is mixed.", "maybe"),
    ("Based on the context, the answer is no.", "no"),
    ("Final decision: maybe", "maybe"),
    ("answer: yes. Long answer: ...", "yes"),
    ("答案：是", "yes"),
    ("不确定，需要更多研究。", "maybe"),
    ("The study suggests that yes, it works.", "yes"),   # the only label word
    ("I cannot tell.", None),
    ("Studies answer yes and no in equal numbers.", None),   # two label words, none leading
    ("Yes. There was no difference in mortality.", "yes"),   # the leading word, not the later "no"
    ("", None),
]


@pytest.mark.parametrize("reply,expected", LABEL_CASES)
def test_extract_label(reply, expected):
    assert extract_label(reply) == expected


@pytest.mark.parametrize("reply,refused", [
    ("抱歉，我是医疗健康助手，只能回答与健康、疾病和医学相关的问题，无法回答这个问题。", True),
    ("这个问题超出了我的回答范围。", True),
    ("根据参考资料，无法根据参考资料回答该问题。", True),
    ("Sorry, I can only answer medical questions.", True),
    ("抱歉听到您不舒服。建议多休息，必要时就医。", False),
    ("【病情分析】\n考虑感冒。", False),
])
def test_is_refusal(reply, refused):
    assert is_refusal(reply) is refused
