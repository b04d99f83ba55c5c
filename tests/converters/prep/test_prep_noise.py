from __future__ import annotations

import random
import re

import pytest

from converters.prep.noise import NONMEDICAL, cite, distractors_only, inject
from core.rag_prompt import WORDINGS, Passage

HEADER, INSTRUCTION = WORDINGS["zh"].header, WORDINGS["zh"].instruction

QUESTION = "孩子发烧39度，可以吃布洛芬吗？"
RELEVANT = "【药物说明】\n儿童发热≥38.5℃时可按体重使用布洛芬混悬液，两次用药间隔至少6小时。"
POOL = [
    "手部湿疹与反复接触水和洗涤剂有关，洗手后应及时涂抹保湿霜。",
    "胃食管反流病患者睡前2～3小时不宜进食，可适当抬高床头。",
    "高血压患者应低盐饮食，每日食盐摄入不超过5克。",
    "踝关节扭伤后48小时内冷敷，之后可改为热敷。",
    "幽门螺杆菌根除治疗一般采用含铋剂的四联疗法。",
]
MEDICAL_WORDS = re.compile("病|医|药|症|疗|痛|健康|身体|血|康复|治|诊|营养|减肥|伤|感染|发烧|发热")


def passages_of(prompt: str) -> dict[int, str]:
    return {int(n): text for n, text in re.findall(r"^\[(\d+)\] (.*)$", prompt, flags=re.M)}


def test_builtin_nonmedical_passages():
    assert len(NONMEDICAL) >= 30
    assert len(set(NONMEDICAL)) == len(NONMEDICAL)
    assert not any(p.startswith("#") for p in NONMEDICAL)
    offenders = [p for p in NONMEDICAL if MEDICAL_WORDS.search(p)]
    assert offenders == []


def test_prompt_layout_and_gold_index():
    prompt, gold = inject(QUESTION, RELEVANT, POOL, 4, random.Random(0))
    passages = passages_of(prompt)
    assert sorted(passages) == [1, 2, 3, 4, 5]
    assert passages[gold] == "【药物说明】 儿童发热≥38.5℃时可按体重使用布洛芬混悬液，两次用药间隔至少6小时。"
    assert prompt.startswith(HEADER + "\n[1] ")
    assert prompt.endswith(f"\n\n问题：{QUESTION}\n\n{INSTRUCTION}")
    assert "[编号]" in INSTRUCTION
    others = [p for n, p in passages.items() if n != gold]
    assert sum(p in POOL for p in others) == 2 and sum(p in NONMEDICAL for p in others) == 2


def test_deterministic_for_a_seed_and_order_varies_across_seeds():
    first = inject(QUESTION, RELEVANT, POOL, 4, random.Random(7))
    assert inject(QUESTION, RELEVANT, POOL, 4, random.Random(7)) == first
    golds = {inject(QUESTION, RELEVANT, POOL, 4, random.Random(seed))[1] for seed in range(40)}
    assert golds == {1, 2, 3, 4, 5}


def test_relevant_passage_and_duplicates_are_removed_from_the_pool():
    pool = [RELEVANT, "  【药物说明】 儿童发热≥38.5℃时可按体重使用布洛芬混悬液，两次用药间隔至少6小时。 ",
            POOL[0], POOL[0] + " ", POOL[1]]
    for seed in range(20):
        prompt, gold = inject(QUESTION, RELEVANT, pool, 2, random.Random(seed), nonmedical_share=0)
        passages = passages_of(prompt)
        assert len(passages) == 3
        assert sorted(p for n, p in passages.items() if n != gold) == sorted(POOL[:2])


def test_short_pool_is_filled_with_nonmedical_and_too_few_is_an_error():
    prompt, gold = inject(QUESTION, RELEVANT, POOL[:1], 5, random.Random(1))
    others = [p for n, p in passages_of(prompt).items() if n != gold]
    assert len(others) == 5 and sum(p in NONMEDICAL for p in others) == 4
    with pytest.raises(ValueError):
        inject(QUESTION, RELEVANT, POOL, len(POOL) + len(NONMEDICAL) + 1, random.Random(1))
    with pytest.raises(ValueError):
        inject(QUESTION, "  ", POOL, 1, random.Random(1))


def test_shares_and_zero_distractors():
    prompt, gold = inject(QUESTION, RELEVANT, POOL, 0, random.Random(1))
    assert gold == 1 and len(passages_of(prompt)) == 1
    prompt, gold = inject(QUESTION, RELEVANT, POOL, 1, random.Random(1))      # one distractor: a medical one
    assert [p for n, p in passages_of(prompt).items() if n != gold][0] in POOL
    prompt, gold = inject(QUESTION, RELEVANT, POOL, 3, random.Random(1), nonmedical_share=1.0)
    assert all(p in NONMEDICAL for n, p in passages_of(prompt).items() if n != gold)


def test_titled_passages_and_language():
    relevant = Passage(RELEVANT, "儿童发热用药")
    prompt, gold = inject(QUESTION, relevant, [Passage(POOL[0], "手部湿疹")], 1, random.Random(2), language="en")
    assert f"[{gold}] 儿童发热用药\n【药物说明】 儿童发热" in prompt
    assert prompt.startswith(WORDINGS["en"].header + "\n[1] ") and f"\n\nQuestion: {QUESTION}\n\n" in prompt


def test_distractors_only_has_no_relevant_passage_and_is_seeded():
    prompt = distractors_only("How do I fix a flat tyre?", POOL + [POOL[0]], 3, random.Random(5))
    assert distractors_only("How do I fix a flat tyre?", POOL, 3, random.Random(5)) == prompt
    passages = passages_of(prompt)
    assert sorted(passages) == [1, 2, 3] and all(p in POOL for p in passages.values())
    assert prompt.endswith(f"问题：How do I fix a flat tyre?\n\n{INSTRUCTION}")
    with pytest.raises(ValueError):
        distractors_only("q", POOL[:2], 3, random.Random(5))


def test_cite_marks_the_first_sentence_of_a_five_section_answer():
    answer = "【病情分析】\n发热38.5℃以上可用退热药。孩子精神好可观察。\n【药物说明】\n布洛芬混悬液。"
    assert cite(answer, 3) == "【病情分析】\n发热38.5℃以上可用退热药[3]。孩子精神好可观察。\n【药物说明】\n布洛芬混悬液。"


def test_cite_plain_text_without_punctuation_and_idempotence():
    assert cite("可以按体重服用布洛芬", 2) == "可以按体重服用布洛芬[2]"
    assert cite("Take ibuprofen 2.5 ml. Then rest.", 1) == "Take ibuprofen 2.5 ml[1]. Then rest."
    assert cite("第一行没有句号\n第二行。", 1) == "第一行没有句号[1]\n第二行。"
    once = cite("多喝水！注意休息。", 4)
    assert once == "多喝水[4]！注意休息。" and cite(once, 4) == once


def test_cite_rejects_bad_input():
    with pytest.raises(ValueError):
        cite("多喝水。", 0)
    with pytest.raises(ValueError):
        cite("多喝水。", True)
    with pytest.raises(ValueError):
        cite("【病情分析】\n\n", 1)
