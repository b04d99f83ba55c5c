"""MedicalGPT preference pairs, 问/答 JSONL and HuatuoGPT-II evaluation files, on samples of their shapes."""
from __future__ import annotations

import json

from converters import huatuo2_eval, medicalgpt_preference, wenda_jsonl
from converters.__main__ import main as convert
from converters.build import build
from converters.common import Example, Reject
from core.recipe.schema import DataSection
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
    (item,) = conv  # the opening question, answered by the real doctor's diagnosis; nothing dropped
    assert item.instruction == "医生，我咳嗽一周了，有痰，不发烧。"
    assert item.output == "病情摘要及初步印象：\n急性支气管炎可能\n总结建议：\n多喝水，必要时化痰治疗。"
    assert "history" not in item.meta and item.meta["real_dialogue"] == "医生：\n发烧吗？\n病人：\n不发烧"
    assert item.meta["model_dialogue"][1] == ["痰是黄色的，要吃消炎药吗？",
                                              "黄痰不一定是细菌感染，如果伴有发热或胸痛再到医院查血常规，由医生判断是否需要抗生素。"]
    assert item.meta["question"] == "医生，我咳嗽一周了，有痰，不发烧。" and item.meta["subject"] == "呼吸内科"


def test_huatuogpt2_items_become_evaluation_items(tmp_path):
    data = DataSection(sources=[{"format": "huatuogpt2-eval", "path": "data/samples/huatuogpt2_eval",
                                 "name": "huatuo100"}, {"format": "qa-jsonl", "path": "data/samples/qa.jsonl"}],
                       max_reject_share=1.0)
    build(data, 42, tmp_path)
    items = [json.loads(line) for line in (tmp_path / "eval" / "huatuo100.jsonl").read_text().splitlines()]
    assert len(items) == 3 and {i["kind"] for i in items} == {"open"}
    assert {i["subject"] for i in items} == {"就医建议", "指标解读", "呼吸内科"}


def test_prompt_cblue_tasks_are_kept_as_written_and_out_of_the_answer_steps(tmp_path):
    from converters import prompt_cblue
    examples, rejects = split(prompt_cblue.read(SAMPLES / "prompt_cblue/train_sample.json"))
    assert rejects == [(4, "missing or empty 'input'"), (5, "bad answer_choices")]
    ner, cls, norm = examples
    assert ner.output == "上述句子中的实体包含：\n症状：发热，咳嗽\n疾病：急性支气管炎"
    assert ner.meta == {"kind": "task", "task_type": "ner", "task_dataset": "CMeEE-V2", "sample_id": "train-1",
                        "answer_choices": ["疾病", "症状", "药物"]}
    assert cls.output == "年龄" and norm.meta["answer_choices"] is None
    data = DataSection(sources=[{"format": "prompt-cblue", "path": "data/samples/prompt_cblue"},
                                {"format": "qa-jsonl", "path": "data/samples/qa.jsonl"}],
                       five_section={"enabled": True}, max_reject_share=1.0)
    build(data, 42, tmp_path)
    rows = [json.loads(line) for split_file in ("train", "validation", "test")
            for line in (tmp_path / f"{split_file}.jsonl").read_text(encoding="utf-8").splitlines()]
    task_rows = [r for r in rows if r["instruction"].startswith(("找出下面句子", "判断下面的临床", "把下面的诊断"))]
    assert len(task_rows) == 3 and not any("【病情分析】" in r["output"] for r in task_rows)  # no five sections
    corpus = (tmp_path / "corpus.jsonl").read_text(encoding="utf-8")
    assert "肺占位性病变" not in corpus


def test_a_text_corpus_becomes_one_passage_per_block(tmp_path):
    from converters import text_corpus
    from converters.common import Document
    items = list(text_corpus.read(SAMPLES / "text_corpus"))
    docs = [i for i in items if isinstance(i, Document)]
    assert [(d.title, d.metadata["line"]) for d in docs] == [
        ("hypertension_notes", 1), ("hypertension_notes", 4), ("高血压防治要点", 1), ("高血压防治要点", 4),
        ("高血压防治要点", 7)]
    assert docs[0].text == "Hypertension is diagnosed when office blood pressure is at least 140/90 mmHg on repeated measurements."
    assert docs[2].text.endswith("舒张压不低于90毫米汞柱即可诊断。多数患者早期没有症状，因此需要定期测量血压。")  # wrap undone
    bad = tmp_path / "gbk.txt"
    bad.write_bytes("高血压".encode("gbk"))
    assert [(r.line, r.reason.split(" (")[0]) for r in text_corpus.read(bad)] == [(0, "not UTF-8")]
    assert [r.reason.split(":")[0] for r in text_corpus.read(tmp_path / "none")] == ["missing path"]


def test_speaker_labelled_dialogue_strings_become_multi_turn_examples():
    from converters import dialogue_text
    examples, rejects = split(dialogue_text.read(SAMPLES / "dialogue_text/consultations.jsonl"))
    assert rejects == [(3, "not alternating"), (4, "no speaker label"), (5, "missing or empty 'dialogue'")]
    fever, stomach = examples
    assert fever.instruction == "如果晚上又烧起来呢？" and fever.output.startswith("按体重服用布洛芬")
    assert fever.meta["history"] == [["孩子发烧38度5，精神还可以，要吃退烧药吗？",
                                      "精神好的话可以先物理降温，多喝水，体温超过38.5度或明显不舒服再用布洛芬。"]]
    assert "谢谢" not in fever.instruction + fever.output  # the patient's closing thanks is not a question
    assert stomach.instruction == "一个多月，偶尔反酸。" and stomach.meta["subject"] == "内科"  # labels on their own line


def test_toyhom_department_txt_blocks_in_gb18030():
    from converters import dialogue_txt
    examples, rejects = split(dialogue_txt.read(SAMPLES / "dialogue_txt"))
    assert rejects == [(10, "no answer"), (13, "no question")]
    fever, coffee, bloating = examples
    assert fever.instruction == "孩子发烧38度要不要吃退烧药？\n孩子三岁，昨晚开始发烧，精神还可以，要不要马上吃退烧药？"
    assert fever.output.count("\n") == 1 and fever.output.endswith("要及时到医院儿科就诊。")  # the line break kept
    assert coffee.instruction == "高血压能喝咖啡吗"  # an ask of "无" leaves the title alone
    assert fever.meta["subject"] == "内科" and bloating.source.endswith("内科.txt:17")


def test_a_department_folder_reads_its_txt_and_names_what_else_it_skipped(tmp_path):
    from converters import dialogue_txt
    (tmp_path / "内科.txt").write_bytes("胃痛,饭后痛\n少食多餐。\n".encode("gb18030"))
    (tmp_path / "数据处理.py").write_text("print(1)\n")
    items = [item for file in sorted(tmp_path.iterdir()) for item in dialogue_txt.read(file)]
    assert [i.output for i in items if isinstance(i, Example)] == ["少食多餐。"]
    assert [i.reason.split(":")[0] for i in items if isinstance(i, Reject)] == ["not a .txt file"]


def test_cblue_classification_and_sentence_pairs_become_task_examples():
    from converters import cblue_cls
    from converters.example_meta import is_open_answer
    examples, rejects = split(cblue_cls.read(SAMPLES / "cblue_cls/KUAKE-QIC_dev.json"))
    assert rejects == [(4, "no label"), (5, "empty 'query'")]
    first = examples[0]
    assert first.output == "治疗方案" and first.instruction.endswith("文本：慢性咽炎怎么治疗比较好")
    assert first.meta["answer_choices"] == ["治疗方案", "医疗费用", "病因分析", "指标解读"]
    assert first.meta["task_dataset"] == "KUAKE-QIC" and not is_open_answer(first)
    pairs, rejects = split(cblue_cls.read(SAMPLES / "cblue_cls/CHIP-STS_dev.json"))
    assert rejects == [(3, "no text field")]
    assert [p.output for p in pairs] == ["1", "0"] and "问题二：糖尿病患者可以吃西瓜吗" in pairs[0].instruction
    assert pairs[0].meta["task_type"] == "pair"


def test_huatuo_med_dialog_case_form_to_the_doctors_conclusion():
    from converters import huatuo_med_dialog
    examples, rejects = split(huatuo_med_dialog.read(SAMPLES / "huatuo_med_dialog/Med-dialog_sample.json"))
    assert rejects == [(3, "missing or empty 'doctor_diagnosis'")]
    skin, cough = examples
    assert skin.instruction.startswith("疾病：\n手心脱皮\n病情描述：") and skin.meta["dialogue"] is None
    assert skin.output.startswith("病情摘要及初步印象：\n剥脱性角质松解症") and skin.meta["subject"] == "皮肤科"
    assert cough.instruction.endswith("希望获得的帮助：\n需要去医院吗")  # the consultation is not the question
    assert cough.meta["dialogue"].startswith("医生：\n有痰吗？") and cough.output.endswith("氨溴索口服溶液")
