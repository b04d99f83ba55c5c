from __future__ import annotations

import json
import re

import pytest

from converters.prep.five_section import (DEFAULT_PLACEHOLDERS, SECTIONS, classify, fill_rates, restructure,
                                          split_sentences, tally)

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


REAL_STYLE = "data/samples/dialogue_csv_real/儿科内科5-14000.csv"


def real_style_answers() -> list[str]:
    from converters import dialogue_csv
    return [e.output for e in dialogue_csv.read(REAL_STYLE)]


def test_comma_joined_answer_is_split_by_clause():
    answer = ("你好，根据你的描述，考虑是慢性咽炎，平时要注意多喝水，少吃辛辣刺激的食物，可以口服金嗓子喉片，"
              "如果症状持续不缓解，建议及时到医院耳鼻喉科就诊，以上意见仅供参考。")
    text, report = restructure(answer)
    assert bodies(text) == {"病情分析": "根据你的描述，考虑是慢性咽炎。",
                            "指导建议": "平时要注意多喝水，少吃辛辣刺激的食物。",
                            "药物说明": "可以口服金嗓子喉片。",
                            "风险提示": "如果症状持续不缓解，建议及时到医院耳鼻喉科就诊。",
                            "免责声明": "以上意见仅供参考。"}
    assert report["empty"] == [] and report["dropped"] == ["你好，"]


def test_a_closing_disclaimer_does_not_take_the_answer_with_it():
    answer = "宝宝这种情况考虑是肠胀气，可以给宝宝做腹部抚触按摩，顺时针按摩，每天两次，每次十分钟，以上意见仅供参考。"
    parts = bodies(restructure(answer)[0])
    assert parts["免责声明"] == "以上意见仅供参考。"
    # massage frequencies are not doses: with no drug in the answer, 药物说明 stays a placeholder
    assert parts["指导建议"] == "可以给宝宝做腹部抚触按摩，顺时针按摩，每天两次，每次十分钟。"
    assert parts["药物说明"] == DEFAULT_PLACEHOLDERS["药物说明"]


def test_a_dose_frequency_follows_its_drug():
    parts = bodies(restructure("可以口服布洛芬混悬液，每天三次，每次5毫升，多喝温水。")[0])
    assert parts["药物说明"] == "可以口服布洛芬混悬液，每天三次，每次5毫升，"[:-1] + "。"
    assert parts["指导建议"] == "多喝温水。"


def test_a_condition_keeps_its_consequence_across_commas():
    parts = bodies(restructure("注意休息，如果出现胸痛，呼吸困难，晕厥，请及时就医。")[0])
    assert parts["风险提示"] == "如果出现胸痛，呼吸困难，晕厥，请及时就医。"
    assert parts["指导建议"] == "注意休息。"


def test_author_labels_are_honoured_and_dropped():
    text, report = restructure("病情分析：腹泻多数和饮食不洁有关。指导意见：建议清淡饮食，多喝淡盐水，"
                               "可以口服蒙脱石散，如果出现发热，及时就诊。")
    parts = bodies(text)
    assert parts["病情分析"] == "腹泻多数和饮食不洁有关。"
    assert parts["指导建议"] == "建议清淡饮食，多喝淡盐水。"
    assert parts["药物说明"] == "可以口服蒙脱石散。"
    assert parts["风险提示"] == "如果出现发热，及时就诊。"
    assert report["dropped"] == ["病情分析：", "指导意见："]


def test_real_style_answers_reach_the_target_and_add_no_text():
    """Target of the issue: placeholders in <= 15% of the content sections of real-style answers
    (the rule-per-sentence version left 74% of them placeholders on this sample)."""
    counter = __import__("collections").Counter()
    for answer in real_style_answers():
        text, report = restructure(answer)
        tally(counter, report)
        own = "".join(body for name, body in bodies(text).items() if name not in report["empty"])
        squash = lambda s: sorted(re.sub(r"[\s，,。；;、.]", "", s))  # noqa: E731 -- end punctuation may change
        # the sections hold exactly the answer's characters, less the greetings and labels dropped
        assert squash(own + "".join(report["dropped"])) == squash(answer), answer[:40]
    rates = fill_rates(counter)
    assert rates["answers"] == 40
    assert rates["placeholder_share"] <= 0.15
    assert all(share >= 0.7 for share in rates["filled"].values())
