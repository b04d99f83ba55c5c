"""MedicalGPT preference pairs, 问/答 JSONL and HuatuoGPT-II evaluation files, on samples of their shapes."""
from __future__ import annotations

import json

from converters import huatuo2_eval, medicalgpt_preference, wenda_jsonl
from converters.build import build
from converters.common import Example, Reject
from recipes.schema import DataSection
from converters.__main__ import main as convert
from tests.conftest import ROOT

SAMPLES = ROOT / "data" / "samples"


def split(items):
    items = list(items)
    return [i for i in items if isinstance(i, Example)], [(i.line, i.reason.split(":")[0]) for i in items
                                                          if isinstance(i, Reject)]


def test_preference_pairs_both_layouts():
    examples, rejects = split(medicalgpt_preference.read(SAMPLES / "medicalgpt_preference/reward_medical_sample.jsonl"))
    assert rejects == [(4, "no preference"), (5, "missing or empty 'response_rejected'"), (6, "bad JSON")]
    first, second, third = examples
    assert first.output.startswith("退热贴只能局部降温") and first.meta["rejected"] == "可以的，贴上退热贴就行，不用吃药。"
    assert second.system == "你是一名耐心的全科医生。"
    assert second.meta["history"] == [["我最近总是胃胀。", "胃胀多久了？饭后明显吗？"]]
    assert (third.instruction, third.system) == ("高血压患者能喝咖啡吗？", "你是一名医生。")  # conversations layout
    assert third.meta["rejected"] == "高血压患者绝对不能喝咖啡，一口都不行。"


def test_make_data_writes_a_ranking_dataset_and_leaves_pairs_unrestructured(tmp_path):
    data = DataSection(sources=[{"format": "medicalgpt-preference", "path": "data/samples/medicalgpt_preference",
                                 "split": "train"}],
                       five_section={"enabled": True}, max_reject_share=1.0, val_size=0.0, test_size=0.0)
    build(data, 42, tmp_path)
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert info["medkit_pairs_train"]["ranking"] is True
    assert info["medkit_pairs_train"]["columns"]["chosen"] == "chosen"
    pairs = [json.loads(line) for line in (tmp_path / "medkit_pairs_train.jsonl").read_text().splitlines()]
    assert len(pairs) == 3 and pairs[0]["rejected"] == "可以的，贴上退热贴就行，不用吃药。"
    assert pairs[1]["history"] == [["我最近总是胃胀。", "胃胀多久了？饭后明显吗？"]]
    assert all("【" not in p["chosen"] for p in pairs)  # chosen and rejected stay comparable
    sft = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    assert [r["output"] for r in sft] == [p["chosen"] for p in pairs]


def test_make_convert_writes_the_pairs_too(tmp_path, capsys):
    assert convert(["medicalgpt-preference", "data/samples/medicalgpt_preference", "--out", str(tmp_path)]) == 0
    assert "input 6 = kept 3 + rejected 3" in capsys.readouterr().out
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert info["medicalgpt_preference_pairs"]["ranking"] is True
    assert len((tmp_path / "medicalgpt_preference_pairs.jsonl").read_text().splitlines()) == 3


def test_wenda_jsonl():
    examples, rejects = split(wenda_jsonl.read(SAMPLES / "wenda/medical_corpus_sample.jsonl"))
    assert rejects == [(4, "missing or empty '问'"), (5, "missing or empty '问'")]
    assert examples[0].instruction.startswith("小孩晚上睡觉出汗多是缺钙吗？，孩子两岁")
    assert examples[1].output == "胃食管反流病"
    assert examples[2].instruction == "慢性咽炎能根治吗"  # the empty description "，无" is dropped


def test_huatuogpt2_instruction_and_conversation_sets():
    inst, rejects = split(huatuo2_eval.read(SAMPLES / "huatuogpt2_eval/huatuo100_inst/SampleModel.json"))
    assert rejects == [(3, "missing or empty 'query'")]
    assert inst[0].instruction == "体检发现甲状腺结节要去哪个科？"
    assert inst[0].meta == {"split": "test", "id": "m1", "answer_model": "SampleModel",
                            "question": "体检发现甲状腺结节要去哪个科？", "subject": "就医建议"}
    conv, rejects = split(huatuo2_eval.read(SAMPLES / "huatuogpt2_eval/huatuo100_conv/SampleModel.json"))
    assert rejects == [(2, "bad model_output")]
    (item,) = conv
    assert item.instruction == "痰是黄色的，要吃消炎药吗？" and item.output.startswith("黄痰不一定是细菌感染")
    assert item.meta["history"] == [["医生，我咳嗽一周了，有痰，不发烧。",
                                     "咳嗽一周有痰、不发烧，多见于急性支气管炎，可以多喝温水，必要时用化痰药。"]]
    assert item.meta["question"] == "医生，我咳嗽一周了，有痰，不发烧。" and item.meta["subject"] == "呼吸内科"


def test_huatuogpt2_items_become_evaluation_items(tmp_path):
    data = DataSection(sources=[{"format": "huatuogpt2-eval", "path": "data/samples/huatuogpt2_eval",
                                 "name": "huatuo100"}, {"format": "qa-jsonl", "path": "data/samples/qa.jsonl"}],
                       max_reject_share=1.0)
    build(data, 42, tmp_path)
    items = [json.loads(line) for line in (tmp_path / "eval" / "huatuo100.jsonl").read_text().splitlines()]
    assert len(items) == 3 and {i["kind"] for i in items} == {"open"}
    assert {i["subject"] for i in items} == {"就医建议", "指标解读", "呼吸内科"}
