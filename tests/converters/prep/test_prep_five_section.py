from __future__ import annotations

import json
import re

import pytest

from converters.prep.five_section import (DEFAULT_PLACEHOLDERS, SECTIONS, classify, restructure,
                                          split_sentences)

FREE = ("您好！根据您的描述，考虑是急性咽炎，多由病毒感染引起。建议多喝水，注意休息，饮食清淡；"
        "可以服用布洛芬缓释胶囊，每次1粒，一日2次。如果发热持续超过3天或出现呼吸困难，请立即就医。祝早日康复！")


def bodies(text: str) -> dict[str, str]:
    parts = re.split("【(" + "|".join(SECTIONS) + ")】\n", text)
    assert parts[0] == ""
    return {name: body.rstrip("\n") for name, body in zip(parts[1::2], parts[2::2])}


def test_free_text_answer_is_split_into_five_sections():
    text, report = restructure(FREE)
    assert text == ("【病情分析】\n根据您的描述，考虑是急性咽炎，多由病毒感染引起。\n"
                    "【指导建议】\n建议多喝水，注意休息，饮食清淡。\n"
                    "【药物说明】\n可以服用布洛芬缓释胶囊，每次1粒，一日2次。\n"
                    "【风险提示】\n如果发热持续超过3天或出现呼吸困难，请立即就医。\n"
                    f"【免责声明】\n{DEFAULT_PLACEHOLDERS['免责声明']}")
    assert report == {"unchanged": False,
                      "clauses": {"病情分析": 3, "指导建议": 3, "药物说明": 3, "风险提示": 1, "免责声明": 0},
                      "empty": ["免责声明"], "disclaimer": "standard", "dropped": ["您好！", "祝早日康复！"]}


def test_sample_answers_are_returned_unchanged():
    with open("data/samples/qa.jsonl", encoding="utf-8") as fh:
        answers = [json.loads(line)["answer"] for line in fh if line.strip()]
    assert len(answers) >= 50
    for answer in answers:
        text, report = restructure(answer)
        assert text is answer or text == answer
        assert report["unchanged"] is True and report["empty"] == []
        assert all(n >= 1 for n in report["clauses"].values())


def test_headers_out_of_order_are_reordered_not_kept():
    answer = "【药物说明】\n口服布洛芬。\n【病情分析】\n考虑感冒。\n【指导建议】\n多休息。\n【风险提示】\n警惕高热。\n【免责声明】\n仅供参考。"
    text, report = restructure(answer)
    assert report["unchanged"] is False
    assert list(bodies(text)) == list(SECTIONS)
    assert bodies(text) == {"病情分析": "考虑感冒。", "指导建议": "多休息。", "药物说明": "口服布洛芬。",
                            "风险提示": "警惕高热。", "免责声明": "仅供参考。"}


def test_partial_headers_are_honoured_and_the_rest_is_classified():
    answer = "考虑过敏性鼻炎。【药物说明】\n医生开了鼻喷剂，按医嘱使用。\n建议远离花粉。"
    text, _ = restructure(answer)
    # the sentence after the 药物说明 header stays there even though it reads like advice
    assert bodies(text)["药物说明"] == "医生开了鼻喷剂，按医嘱使用。建议远离花粉。"
    assert bodies(text)["病情分析"] == "考虑过敏性鼻炎。"
    assert bodies(text)["指导建议"] == DEFAULT_PLACEHOLDERS["指导建议"]


def test_existing_disclaimer_goes_to_its_section_and_no_standard_one_is_added():
    answer = "考虑湿疹可能。以上内容仅供参考，具体请以医生面诊为准。"
    text, report = restructure(answer)
    assert bodies(text)["免责声明"] == "以上内容仅供参考，具体请以医生面诊为准。"
    assert DEFAULT_PLACEHOLDERS["免责声明"] not in text
    assert report["disclaimer"] == "found"
    assert report["empty"] == ["指导建议", "药物说明", "风险提示"]


def test_placeholders_are_the_only_added_text():
    answer = "咽部充血，考虑咽炎。多喝温水。"
    text, report = restructure(answer)
    added = [body for name, body in bodies(text).items() if name in report["empty"]]
    assert added == [DEFAULT_PLACEHOLDERS[name] for name in report["empty"]]
    for name, body in bodies(text).items():
        if name not in report["empty"]:
            assert all(sentence in answer for sentence in split_sentences(body))


def test_placeholders_are_configurable_and_validated():
    text, _ = restructure("考虑咽炎。", placeholders={"药物说明": "用药请遵医嘱。", "免责声明": "本回答不构成诊疗意见。"})
    assert bodies(text)["药物说明"] == "用药请遵医嘱。"
    assert bodies(text)["免责声明"] == "本回答不构成诊疗意见。"
    assert bodies(text)["风险提示"] == DEFAULT_PLACEHOLDERS["风险提示"]
    with pytest.raises(ValueError):
        restructure("考虑咽炎。", placeholders={"用药": "x"})
    with pytest.raises(ValueError):
        restructure("考虑咽炎。", placeholders={"药物说明": "  "})


def test_empty_answer_gets_every_placeholder():
    text, report = restructure("")
    assert bodies(text) == DEFAULT_PLACEHOLDERS
    assert report["empty"] == list(SECTIONS)


@pytest.mark.parametrize("sentence, section", [
    ("服药后若出现皮疹，应立即停药并就医。", "风险提示"),           # risk beats drug
    ("如体温超过38.5℃，可服用布洛芬。", "药物说明"),               # condition without escalation
    ("如果症状持续加重，要及时到医院检查。", "风险提示"),
    ("出现胸痛大汗时应拨打120。", "风险提示"),
    ("阿莫西林胶囊每次0.5g，一日3次。", "药物说明"),
    ("左氧氟沙星需在医生指导下使用。", "药物说明"),                 # name ending 沙星
    ("建议拍胸片检查。", "指导建议"),                              # 胸片 is not a tablet
    ("每天饮水2000毫升。", "指导建议"),                            # fluid advice, not a dose
    ("咽炎多由病毒感染引起，与熬夜饮食不规律有关。", "病情分析"),     # explanation words beat 饮食
    ("扁桃体表面有白色渗出物。", "病情分析"),                       # default
    ("本回答仅供参考，不能替代医生面诊。", "免责声明"),
    ("可使用漱口水，但不能替代刷牙。", "药物说明"),                 # 不能替代 without 医生/面诊
])
def test_classification_rules(sentence, section):
    assert classify(sentence) == section


def test_sentence_splitting():
    assert split_sentences("体温38.5℃。建议休息！真的吗？Take a rest. OK") == [
        "体温38.5℃。", "建议休息！", "真的吗？", "Take a rest.", "OK"]
    assert split_sentences("他说：“多喝水。”然后离开\n第二行；第三句") == [
        "他说：“多喝水。”", "然后离开", "第二行；", "第三句"]
    assert split_sentences("。。\n  \n！") == []


def test_trailing_semicolon_of_a_section_becomes_a_full_stop():
    text, _ = restructure("考虑咽炎；多喝水；")
    assert bodies(text)["病情分析"] == "考虑咽炎。"
    assert bodies(text)["指导建议"] == "多喝水。"


def test_rules_agree_with_the_sample_authors():
    """Regression guard: the sample answers' sentences, headers removed, mostly land where their author put them."""
    with open("data/samples/qa.jsonl", encoding="utf-8") as fh:
        answers = [json.loads(line)["answer"] for line in fh if line.strip()]
    total = agree = 0
    for answer in answers:
        parts = re.split("【(" + "|".join(SECTIONS) + ")】", answer)
        for name, body in zip(parts[1::2], parts[2::2]):
            for sentence in split_sentences(body):
                total += 1
                agree += classify(sentence) == name
    assert total > 400
    assert agree / total >= 0.85
