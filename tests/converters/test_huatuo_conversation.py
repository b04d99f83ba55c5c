"""Multi-turn consultations: lists of turns kept as multi-turn examples, bad turn sequences rejected,
the five sections applied to the final answer only, and only when it is advice."""
from __future__ import annotations

import json

from converters import huatuo_conversation, turns
from converters.build import build
from converters.common import Example, Reject
from converters.prep.five_section import is_follow_up
from core.recipe.schema import DataSection
from tests.conftest import ROOT

SAMPLE = ROOT / "data" / "samples" / "huatuo_conversation" / "conversation_sample.json"


def test_sample_conversations_and_their_rejects():
    items = list(huatuo_conversation.read(SAMPLE))
    kept = [i for i in items if isinstance(i, Example)]
    rejects = [(i.line, i.reason) for i in items if isinstance(i, Reject)]
    assert rejects == [
        (5, "wrong role order: turn 2 is labelled '问' (patient) where the doctor speaks"),
        (6, "empty turn: turn 2 (doctor) has no text"),
        (7, "last turn not from the doctor: turn 3 is from the patient"),
        (8, "missing or empty conversation: expected a list of turns under one of conversation, data, dialogue"),
        (9, "missing or empty conversation: expected a list of turns under one of conversation, data, dialogue"),
        (10, "bad turn: turn 2 is not a string")]
    labelled, gastric, dialogue, single = kept
    assert labelled.meta["history"] == [["孩子四岁，昨晚开始发烧，最高38.9度，精神还可以，需要马上去医院吗？",
                                         "发烧几天了？有没有咳嗽、呕吐或者皮疹？"]]  # labels dropped
    assert labelled.instruction == "就是昨晚开始的，有点咳嗽，没有吐，也没有皮疹。"
    assert labelled.meta["question"].startswith("孩子四岁") and labelled.meta["turns"] == 4
    assert gastric.system == "你是一名耐心的全科医生。" and len(gastric.meta["history"]) == 2
    assert dialogue.meta["history"][0][1].startswith("这种情况要警惕心绞痛")
    assert single.meta["history"] == [] and single.output.endswith("？")


def test_rounds_is_the_one_check_of_a_turn_sequence():
    ok = turns.rounds([("system", "s"), ("human", "q1"), ("gpt", "a1"), ("human", "q2"), ("gpt", "a2")])
    assert (ok.system, ok.history, ok.question, ok.answer) == ("s", [["q1", "a1"]], "q2", "a2")
    assert turns.rounds([("gpt", "a"), ("human", "q")]).startswith("not alternating: turn 1")
    assert turns.rounds([("human", "q"), ("human", "q")]).startswith("not alternating: turn 2")
    assert turns.rounds([("human", "q"), ("gpt", " ")]).startswith("empty turn: turn 2")
    assert turns.rounds([("system", "s")]) == "empty conversation: only a system turn"


def test_follow_up_questions_are_not_advice():
    assert is_follow_up("发烧几天了？有没有咳嗽？") and is_follow_up("How long has it lasted?")
    assert not is_follow_up("建议多喝水，注意休息。") and not is_follow_up("是不是缺钙？要看血检。")


def test_make_data_keeps_the_rounds_and_restructures_the_final_advice_only(tmp_path):
    data = DataSection(sources=[{"format": "huatuo-conversation", "path": str(SAMPLE), "split": "train"},
                                {"format": "huatuo-conversation", "path": str(SAMPLE), "split": "test",
                                 "name": "consult_test"}],
                       five_section={"enabled": True}, max_reject_share=1.0, dedupe={"exact": False, "near": False})
    summary = build(data, 42, tmp_path)
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert info["medkit_train"]["columns"]["history"] == "history"
    rows = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [len(r.get("history", [])) for r in rows] == [1, 2, 1, 0]
    advice, asking = rows[0], rows[3]
    assert advice["output"].startswith("【病情分析】") and "【风险提示】" in advice["output"]
    assert advice["history"][0][1] == "发烧几天了？有没有咳嗽、呕吐或者皮疹？"  # earlier rounds as written
    assert asking["output"] == "痘痘长了多久？主要在额头、脸颊还是下巴？有没有用过什么药？"  # a follow-up stays
    assert summary["five_section"]["skipped_follow_up"] == 2  # once per source
    items = [json.loads(line) for line in (tmp_path / "eval" / "consult_test.jsonl").read_text().splitlines()]
    assert items[1]["history"][1][0] == "饭后明显，偶尔反酸，大便正常。"  # evaluation sees the whole conversation
    assert items[0]["reference"].startswith("孩子发热不到一天")  # the source's own final answer
