"""eval.prompt_preset opencompass: OpenCompass's CMB and MedQA prompts on the bundled samples, other items as
they were, the preset's name in the recipe and in the report header."""
from __future__ import annotations

import typing
from pathlib import Path

import pytest
from pydantic import ValidationError

from converters import cmb, medqa
from converters.build import eval_item
from converters.common import Example
from core.recipe.load import RecipeError, load_recipe
from core.recipe.schema import EvalSection
from evaluation import presets
from evaluation.report import render
from evaluation.results import EvalResults

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"

# the texts OpenCompass sends (cmb_gen_dfb5c4.py with CMBDataset's option_str; MedQA_gen_3bf756.py's
# QUERY_TEMPLATE with MedQADataset's choices), written out for the first item of each bundled sample
CMB_FIRST = ("以下是中国医师考试中执业医师考试的一道单项选择题，不需要做任何分析和解释，直接输出答案选项。\n"
             "急性心肌梗死最早升高的心肌损伤标志物是\n"
             "A. 乳酸脱氢酶\nB. 肌红蛋白\nC. 天冬氨酸氨基转移酶\nD. 碱性磷酸酶\nE. 淀粉酶 \n 答案: ")
MEDQA_FIRST = ("Answer the following multiple choice question. The last line of your response should be of the "
               "following format: 'ANSWER: $LETTER' (without quotes) where LETTER is one of Options(e.g. one of "
               "ABCDEFGHIJKLMNOP). Think step by step before answering.\n\n"
               "Question:\n\n维持细胞内外钾离子浓度差的主要机制是（　　）。\n\n"
               "Options:\n\nA. 单纯扩散\nB. 钠-钾泵的主动转运\nC. 通道介导的易化扩散\nD. 载体介导的易化扩散\nE. 胞吐作用\n")


def items_of(read, path: Path, fmt: str, system: str = "你是一名医生。") -> list[dict]:
    """Eval items as `make data` writes them (the build sets dataset, format and the system prompt)."""
    out = []
    for ex in read(path):
        if isinstance(ex, Example):
            ex.meta.update(dataset=path.stem, format=fmt)
            ex.system = system
            out.append(eval_item(ex))
    return out


@pytest.fixture
def cmb_items():
    return items_of(cmb.read, SAMPLES / "cmb" / "cmb_sample.json", "cmb")


@pytest.fixture
def medqa_items():
    return items_of(medqa.read, SAMPLES / "medqa" / "mainland_sample.jsonl", "medqa")


def test_eval_items_carry_cmbs_exam_fields(cmb_items):
    first = cmb_items[0]
    assert (first["exam_type"], first["exam_class"], first["question_type"]) == ("医师考试", "执业医师", "单项选择题")


def test_cmb_and_medqa_prompts_are_opencompass_templates(cmb_items, medqa_items):
    applied = presets.apply(cmb_items + medqa_items, "opencompass")
    cmb_first, medqa_first = applied.items[0], applied.items[len(cmb_items)]
    assert cmb_first["prompt"] == CMB_FIRST
    assert medqa_first["prompt"] == MEDQA_FIRST
    assert cmb_first["system"] is None and medqa_first["system"] is None  # the template is the only turn
    assert applied.rewritten == {"cmb": len(cmb_items), "medqa": len(medqa_items)} and not applied.kept
    # the rest of the item is untouched, and the items given are not changed
    assert {k: v for k, v in cmb_first.items() if k not in ("prompt", "system")} == \
           {k: v for k, v in cmb_items[0].items() if k not in ("prompt", "system")}
    assert cmb_items[0]["prompt"].startswith("【单项选择题】") and cmb_items[0]["system"] == "你是一名医生。"


def test_cmb_multiple_answer_type_and_english_medqa(cmb_items):
    multi = presets.apply([cmb_items[1]], "opencompass").items[0]["prompt"]
    assert multi.startswith("以下是中国医师考试中执业医师考试的一道多项选择题，") and multi.endswith("D. 周围神经病变 \n 答案: ")
    us = items_of(medqa.read, SAMPLES / "medqa" / "4_options_sample.jsonl", "medqa")
    prompt = presets.apply(us, "opencompass").items[0]["prompt"]
    assert "\n\nQuestion:\n\nA 24-year-old woman has fatigue" in prompt
    assert prompt.endswith("Options:\n\nA. Low serum ferritin\nB. High serum ferritin\n"
                           "C. Low total iron-binding capacity\nD. High vitamin B12\n")


def test_cmb_leaves_out_one_character_options_as_cmbdataset_does():
    item = {"id": "c1", "kind": "choice", "format": "cmb", "exam_type": "医师考试", "exam_class": "执业医师",
            "question_type": "单项选择题", "question": "题干", "options": {"A": "甲乙", "B": "丙", "C": "丁戊"},
            "answer": "A", "prompt": "p"}
    assert presets.apply([item], "opencompass").items[0]["prompt"].endswith("题干\nA. 甲乙\nC. 丁戊 \n 答案: ")


def test_other_formats_and_kinds_are_left_unchanged(cmb_items):
    others = [{"id": "o1", "kind": "open", "format": "cmedqa2", "prompt": "头痛怎么办？", "system": "s"},
              {"id": "o2", "kind": "label", "format": "pubmedqa", "prompt": "Is it?", "answer": "yes"},
              {"id": "o3", "kind": "choice", "format": "cmexam", "prompt": "题", "options": {"A": "甲", "B": "乙"},
               "answer": "A", "question": "题"},
              {"id": "o4", "kind": "refusal", "format": "cmb", "prompt": "帮我开处方"}]
    applied = presets.apply(others, "opencompass")
    assert all(after is before for after, before in zip(applied.items, others)) and not applied.rewritten
    assert presets.apply(cmb_items, None).items == cmb_items


def test_a_cmb_item_without_its_exam_fields_is_kept_and_named(cmb_items):
    bare = {k: v for k, v in cmb_items[0].items() if k != "exam_class"}
    applied = presets.apply([bare], "opencompass")
    assert applied.items[0] is bare and applied.kept[0][0] == bare["id"] and "exam_class" in applied.kept[0][1]
    assert "kept 1 as they were" in presets.describe("opencompass", applied)


def test_unknown_preset_is_a_schema_error_naming_the_key(tmp_path):
    assert typing.get_args(typing.get_args(EvalSection.model_fields["prompt_preset"].annotation)[0]) == \
        presets.PRESETS
    assert EvalSection().prompt_preset is None and EvalSection(prompt_preset="opencompass").prompt_preset
    with pytest.raises(ValidationError, match="prompt_preset"):
        EvalSection(prompt_preset="lm-eval")
    root = Path(__file__).resolve().parents[2]
    with pytest.raises(RecipeError, match=r"eval\.prompt_preset = 'lm-eval'"):
        load_recipe(root / "recipes" / "quickstart.yaml", ["eval.prompt_preset=lm-eval"], check_files=False)
    with pytest.raises(ValueError, match="lm-eval"):
        presets.apply([], "lm-eval")


def test_report_header_names_the_preset():
    results = EvalResults(recipe="r", run_dir="runs/r", created="now", suites={}, targets=[], headline={},
                          items={"total": 0, "by_kind": {}, "by_dataset": {}, "rejected": 0}, rouge_tokenizer="char",
                          params={"temperature": 0.0, "seed": 0, "max_tokens": 10, "concurrency": 1, "limit": None,
                                  "support_threshold": 0.5, "minimal_prompt": "m", "prompt_preset": "opencompass"},
                          paired={"targets": {}, "compare": []})
    assert "concurrency 1, prompt preset opencompass" in render(results).splitlines()[2]
    results.params["prompt_preset"] = None
    assert "prompt preset" not in render(results)


def test_opencompass_reading_of_replies():
    cmb_item, medqa_item = {"kind": "choice", "format": "cmb"}, {"kind": "choice", "format": "medqa"}
    assert presets.read_answer(cmb_item, "B") == "B"
    assert presets.read_answer(cmb_item, "A、C、D") == "ACD"
    assert presets.read_cmb("CT 检查：B") == "BCT"  # every capital counts, as multiple_select_postprocess reads
    reply = "The findings point to the right coronary artery; B is less likely.\nANSWER: C"
    assert presets.read_answer(medqa_item, reply) == "C"
    assert presets.read_medqa("首先分析……钾离子浓度差由钠-钾泵维持。\n答案是B") == "B"
    assert presets.read_medqa("The answer is D.") == "D"
    assert presets.read_medqa("ANSWER: E") == "A"  # the config reads A-D only: the cushion finds ANSWER's A
    assert presets.read_medqa("ANSWER: E", "ABCDE") == "E"
    assert presets.read_medqa("Not sure.") == ""
    assert presets.read_answer({"kind": "choice", "format": "cmexam"}, "B") is None
