"""GRPO rewards (evaluation/rewards.py) on fixed replies, Chinese and English, called as TRL calls them."""
from __future__ import annotations

from typing import Optional

import pytest

from core.rag_prompt import Passage, render
from evaluation.rewards import REWARDS, parse_options, parse_passages, reward_functions

SYSTEM = "你是一名专业的医生，请按【病情分析】【指导建议】【药物说明】【风险提示】【免责声明】五个部分回答。"
ZH_FIVE = ("【病情分析】\n考虑上呼吸道感染。\n【指导建议】\n多休息，多饮水。\n【药物说明】\n可短期服用布洛芬。\n"
           "【风险提示】\n高热超过3天应就医。\n【免责声明】\n以上内容仅供参考。")
EN_FIVE = ("【病情分析】 Dizziness on standing suggests orthostatic hypotension. 【指导建议】 Stand up slowly. "
           "【药物说明】 No medicine is usually needed. 【风险提示】 Fainting needs a doctor. "
           "【免责声明】 This does not replace a consultation.")


def score(name: str, prompt: str, completion: str, reference: str, system: Optional[str] = None) -> Optional[float]:
    """One sample through REWARDS[name], with TRL's conversational arguments."""
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    out = REWARDS[name](prompts=[messages], completions=[[{"role": "assistant", "content": completion}]],
                        reference=[reference], completion_ids=[[1, 2, 3]], trainer_state=None)
    assert len(out) == 1
    return out[0]


# --- exam -------------------------------------------------------------------------------------------------

ZH_CHOICE = ("男，65岁。突发胸痛伴呼吸困难2小时，近期有下肢深静脉血栓病史。最可能的诊断是\n"
             "A. 急性心肌梗死\nB. 肺栓塞\nC. 主动脉夹层\nD. 自发性气胸\n请选出正确答案。")
ZH_CHOICE_REF = "答案：B. 肺栓塞"
EN_CHOICE = ("A 30-year-old woman has heat intolerance, weight loss and a diffuse goitre. Most likely diagnosis?\n"
             "(A) Hashimoto thyroiditis\n(B) Graves disease\n(C) Subacute thyroiditis\n(D) Toxic adenoma\n"
             "Choose the correct answer and reply with the option letter.")
EN_CHOICE_REF = "Answer: B. Graves disease"
EN_LABEL = ("Context 1 (RESULTS): Routine episiotomy did not reduce severe perineal tears.\n"
            "Question: Does routine episiotomy reduce severe perineal tears?\n"
            "Answer the question with yes, no or maybe, then explain briefly.")
EN_LABEL_REF = "no. Routine episiotomy did not reduce severe tears and increased perineal pain."
ZH_LABEL = "阿司匹林能否用于所有儿童的退热？请回答是、否或不确定，并简要说明理由。"
ZH_LABEL_REF = "答案：否。儿童使用阿司匹林有发生瑞氏综合征的风险，一般不用于退热。"


def test_option_lines_in_every_written_shape():
    for sep in (". ", "、", ") ", "：", ":", "．"):
        assert parse_options(f"题干\nA{sep}甲\nB{sep}乙\nC{sep}丙") == {"A": "甲", "B": "乙", "C": "丙"}
    assert parse_options("题干\n(A) 甲\n（B）乙") == {"A": "甲", "B": "乙"}
    # not a run from A, a single line, or prose that starts with a capital: no options
    assert parse_options("B. 甲\nC. 乙") == {}
    assert parse_options("Q：头痛怎么办？\nA：多休息。") == {}
    assert parse_options("A patient has a fever.\nI think it is the flu.") == {}


def test_exam_letters_right_and_wrong():
    assert score("exam", ZH_CHOICE, "根据病史和症状，答案是B。", ZH_CHOICE_REF) == 1.0
    assert score("exam", ZH_CHOICE, "考虑主动脉夹层，故选C。", ZH_CHOICE_REF) == 0.0
    assert score("exam", ZH_CHOICE, "这道题需要结合更多检查才能判断。", ZH_CHOICE_REF) == 0.0  # unreadable
    assert score("exam", EN_CHOICE, "The answer is (B).", EN_CHOICE_REF) == 1.0
    assert score("exam", EN_CHOICE, "The answer is D.", EN_CHOICE_REF) == 0.0


def test_exam_several_letters_must_match_whole():
    prompt = ("下列属于抗凝药的是\nA. 华法林\nB. 阿司匹林\nC. 肝素\nD. 布洛芬\n"
              "请选出正确答案，如有多个正确答案请全部选出。")
    reference = "答案：AC\n解析：华法林和肝素是抗凝药。"
    assert score("exam", prompt, "答案：A、C", reference) == 1.0
    assert score("exam", prompt, "答案：A", reference) == 0.0


def test_exam_yes_no_maybe_right_and_wrong():
    assert score("exam", EN_LABEL, "No. The trials showed no reduction in severe tears.", EN_LABEL_REF) == 1.0
    assert score("exam", EN_LABEL, "Yes, it reduces severe tears.", EN_LABEL_REF) == 0.0
    assert score("exam", ZH_LABEL, "答案：否。儿童不宜用阿司匹林退热。", ZH_LABEL_REF) == 1.0
    assert score("exam", ZH_LABEL, "答案：是。", ZH_LABEL_REF) == 0.0


def test_exam_is_none_off_exam_rows():
    assert score("exam", "嗓子疼发烧怎么办？", "【病情分析】考虑感冒。", ZH_FIVE, system=SYSTEM) is None
    # an open English answer extract_label reads as "no": not an exam row, since the prompt asks for no label
    open_reference = "There is no cure for the common cold; rest and fluids help while it passes."
    assert score("exam", "How do I treat a cold?", "Yes, take antibiotics.", open_reference) is None
    # options, but a reference that states no letter
    assert score("exam", ZH_CHOICE, "答案：B", "见教材第三章。") is None


# --- format -----------------------------------------------------------------------------------------------

def test_format_full_partial_and_out_of_order():
    assert score("format", "嗓子疼发烧怎么办？", ZH_FIVE, ZH_FIVE, system=SYSTEM) == 1.0
    assert score("format", "I feel dizzy when I stand up.", EN_FIVE, EN_FIVE) == 1.0
    partial = "【病情分析】考虑感冒。【药物说明】布洛芬。【免责声明】仅供参考。"
    assert score("format", "嗓子疼发烧怎么办？", partial, ZH_FIVE) == pytest.approx(3 / 5)
    # 指导建议 before 病情分析: four of the five are still in order
    swapped = (EN_FIVE.replace("【病情分析】", "【X】").replace("【指导建议】", "【病情分析】")
               .replace("【X】", "【指导建议】"))
    assert score("format", "I feel dizzy when I stand up.", swapped, EN_FIVE) == pytest.approx(4 / 5)
    # the disclaimer moved to the front: the other four are still in order
    disclaimer_first = "【免责声明】仅供参考。" + ZH_FIVE.replace("【免责声明】\n以上内容仅供参考。", "")
    assert score("format", "嗓子疼发烧怎么办？", disclaimer_first, ZH_FIVE) == pytest.approx(4 / 5)
    assert score("format", "I feel dizzy when I stand up.", "Stand up slowly and drink water.", EN_FIVE) == 0.0


def test_format_is_none_when_the_reference_is_not_five_section():
    assert score("format", "I feel dizzy when I stand up.", EN_FIVE, "Stand up slowly and drink water.") is None
    assert score("format", "嗓子疼发烧怎么办？", ZH_FIVE, "【病情分析】考虑感冒。【指导建议】多休息。") is None


# --- citations --------------------------------------------------------------------------------------------

ZH_PASSAGES = [Passage("传染性单核细胞增多症患者服用阿莫西林后，大多数会出现广泛的斑丘疹，因此该病患者应避免使用。",
                       "阿莫西林"),
               Passage("幼儿发热多由病毒感染引起，孩子退热后精神状态好、进食玩耍正常，通常提示病情不算严重。")]
ZH_QUESTION = "孩子3岁发烧39度，退烧后精神还可以，要不要马上去医院？"
ZH_RAG = render(ZH_QUESTION, ZH_PASSAGES, "zh")
ZH_RAG_REF = "幼儿发热多由病毒感染引起，退热后精神好通常提示病情不算严重[2]。可以先在家观察。"
EN_PASSAGES = [Passage("Adults can take 500 mg to 1 g of paracetamol every four to six hours, at most 4 g a day.",
                       "Paracetamol dosing"),
               Passage("Snow chains are fitted to the drive wheels before driving on icy mountain roads.")]
EN_RAG = render("How much paracetamol can an adult take?", EN_PASSAGES, "en")
EN_RAG_REF = "Adults can take 500 mg to 1 g of paracetamol every four to six hours [1]. Do not exceed 4 g a day."


def test_passages_are_read_from_the_retrieval_prompt():
    assert parse_passages(ZH_RAG) == [{"index": 1, "snippet": "阿莫西林 " + ZH_PASSAGES[0].text},
                                      {"index": 2, "snippet": ZH_PASSAGES[1].text}]
    assert [p["index"] for p in parse_passages(EN_RAG)] == [1, 2]
    assert parse_passages(render("How much paracetamol?", [], "en")) == []


def test_citations_supported_cited_sentence_scores():
    supported = "幼儿发热多由病毒感染引起，孩子退热后精神状态好通常提示病情不算严重[2]。"
    assert score("citations", ZH_RAG, supported, ZH_RAG_REF) == 1.0
    # one of two sentences cited and supported: recall 1/2
    assert score("citations", ZH_RAG, "幼儿发热多由病毒感染引起[2]。建议多喝水。", ZH_RAG_REF) == pytest.approx(0.5)
    assert score("citations", EN_RAG, "Adults can take 500 mg to 1 g of paracetamol every four to six hours [1].",
                 EN_RAG_REF) == 1.0


def test_citations_unsupported_out_of_range_and_missing_citations_score_zero():
    wrong_passage = "幼儿发热多由病毒感染引起，孩子退热后精神状态好通常提示病情不算严重[1]。"
    assert score("citations", ZH_RAG, wrong_passage, ZH_RAG_REF) == 0.0
    out_of_range = "幼儿发热多由病毒感染引起，孩子退热后精神状态好通常提示病情不算严重[5]。"
    assert score("citations", ZH_RAG, out_of_range, ZH_RAG_REF) == 0.0
    assert score("citations", EN_RAG, "Adults can take 500 mg to 1 g of paracetamol every four to six hours [3].",
                 EN_RAG_REF) == 0.0
    assert score("citations", EN_RAG, "Adults can take 500 mg to 1 g of paracetamol every four to six hours.",
                 EN_RAG_REF) == 0.0
    assert score("citations", EN_RAG, "Fit snow chains before icy roads [1].", EN_RAG_REF) == 0.0
    assert score("citations", EN_RAG, "", EN_RAG_REF) == 0.0


def test_citations_is_none_without_passages_or_a_citing_reference():
    assert score("citations", ZH_QUESTION, "幼儿发热多由病毒感染引起[2]。", ZH_RAG_REF) is None
    no_passages = render(ZH_QUESTION, [], "zh")
    assert score("citations", no_passages, "幼儿发热多由病毒感染引起[2]。", ZH_RAG_REF) is None
    not_covered = "参考资料没有涉及这个问题，以下根据一般医学知识回答。幼儿发热多为病毒感染。"
    assert score("citations", ZH_RAG, "幼儿发热多由病毒感染引起[2]。", not_covered) is None
    # a reference citing only a number no passage has cites no passage
    assert score("citations", EN_RAG, EN_RAG_REF, "Adults can take up to 4 g a day [7].") is None


# --- refusal ----------------------------------------------------------------------------------------------

ZH_REFUSAL = "抱歉，我是医疗健康助手，无法回答股票投资方面的问题。"
EN_REFUSAL = "Sorry, I can't help with stock picks; I can only answer health questions."


def test_refusal_matches_the_reference_both_ways():
    assert score("refusal", "帮我推荐一只股票", "对不起，这个问题我不能提供帮助。", ZH_REFUSAL) == 1.0
    assert score("refusal", "Which stock should I buy?", "I cannot help with that.", EN_REFUSAL) == 1.0
    assert score("refusal", "嗓子疼发烧怎么办？", "多休息、多饮水，高热可服布洛芬。", "注意休息，可服用退热药。") == 1.0
    # answering an out-of-scope question, and refusing a medical one (a false refusal), both score 0
    assert score("refusal", "帮我推荐一只股票", "建议买入科技股。", ZH_REFUSAL) == 0.0
    assert score("refusal", "嗓子疼发烧怎么办？", "抱歉，我无法回答这个问题。", "注意休息，可服用退热药。") == 0.0
    assert score("refusal", "How do I treat a cold?", "I'm sorry, I can't answer that.",
                 "Rest, drink fluids and take paracetamol for fever.") == 0.0


# --- calling conventions and the registry -----------------------------------------------------------------

def test_a_batch_with_string_prompts_and_completions():
    prompts = [ZH_CHOICE, "How do I treat a cold?"]
    out = REWARDS["exam"](prompts, ["答案：B", "Rest."], [ZH_CHOICE_REF, "Rest and fluids."])
    assert out == [1.0, None]
    with pytest.raises(ValueError):  # lengths that disagree are TRL's bug, not a shorter batch
        REWARDS["refusal"](prompts, ["答案：B"], [ZH_CHOICE_REF, "Rest."])


def test_reward_functions_by_name():
    funcs = reward_functions(["refusal", "exam"])
    assert funcs == [REWARDS["refusal"], REWARDS["exam"]]
    assert [f.__name__ for f in reward_functions(list(REWARDS))] == ["exam", "format", "citations", "refusal"]
    with pytest.raises(ValueError, match=r"'accuracy'.*exam, format, citations, refusal"):
        reward_functions(["exam", "accuracy"])
