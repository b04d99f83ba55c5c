from __future__ import annotations

import os
import random
import time

import pytest

from converters.common import Example
from converters.prep.dedupe import (Dropped, choose_rows, dedupe, jaccard, leakage, normalise, shingles)

ANSWER = ("结合咽痛、鼻塞、发热和全身酸痛，考虑上呼吸道感染的可能性较大，多数由病毒引起。注意休息，多饮温水，"
          "饮食清淡。可按说明书短期服用布洛芬或对乙酰氨基酚退热止痛，两者不要同时叠加使用。如高热持续超过3天，"
          "或出现呼吸困难、胸痛，应及时就医。")


def test_normalise_removes_case_width_whitespace_and_punctuation():
    assert normalise(" 头痛 怎么办？ ") == normalise("头痛怎么办?") == normalise("头痛，怎么办！") == "头痛怎么办"
    assert normalise("ＣＴ 检查<br>结果") == normalise("ct检查结果") == "ct检查结果"


def test_shingles_are_character_trigrams_packed_injectively():
    assert len(shingles("头痛怎么办")) == 3                  # 头痛怎 痛怎么 怎么办
    assert shingles("头痛怎") != shingles("痛头怎")
    assert shingles("痛痛痛痛") == shingles("痛痛痛")         # a set: repeats collapse
    assert len(shingles("头痛")) == 1 and shingles("") == frozenset()


def test_exact_duplicates_after_normalisation():
    items = ["头痛怎么办？", "发烧38度要吃药吗", " 头痛 怎么办! ", "头痛，怎么办"]
    kept, dropped = dedupe(items)
    assert kept == ["头痛怎么办？", "发烧38度要吃药吗"]
    assert dropped == [Dropped(" 头痛 怎么办! ", 0, 1.0, "exact"), Dropped("头痛，怎么办", 0, 1.0, "exact")]


def test_near_duplicate_dropped_with_its_exact_jaccard():
    edited = ANSWER.replace("全身酸痛", "周身酸痛").replace("3天", "三天")
    other = "孩子3岁，昨晚开始发烧，最高39.2℃，退烧后精神还可以，能吃能玩，要不要马上去医院？"
    kept, dropped = dedupe([ANSWER, other, edited])
    assert kept == [ANSWER, other]
    assert len(dropped) == 1
    item, kept_index, similarity, kind = dropped[0]
    assert (item, kept_index, kind) == (edited, 0, "near")
    assert similarity == jaccard(shingles(normalise(ANSWER)), shingles(normalise(edited)))
    assert 0.8 <= similarity < 1.0


def test_similar_but_below_threshold_is_kept():
    a = "最近一个月经常饭后反酸、烧心，躺下时更明显，需要做胃镜吗？"
    b = "最近一个月经常饭后腹胀、嗳气，早上起来更明显，需要查幽门螺杆菌吗？"
    assert jaccard(shingles(normalise(a)), shingles(normalise(b))) < 0.8
    kept, dropped = dedupe([a, b])
    assert kept == [a, b] and dropped == []
    # a lower threshold merges them
    assert len(dedupe([a, b], threshold=0.2)[1]) == 1


def test_kept_index_points_into_the_kept_list_and_best_match_wins():
    base = ANSWER
    one_edit = base.replace("鼻塞", "流涕")
    two_edits = one_edit.replace("胸痛", "胸闷")
    filler = "双手手指缝和手背反复起小水疱、很痒，一碰水和洗洁精就加重，已经一个多月了，怎么办？"
    kept, dropped = dedupe([filler, filler, two_edits, base, one_edit])
    # base is near two_edits (kept at 1); one_edit is nearer to... both; it goes to the most similar one
    assert kept == [filler, two_edits]
    assert dropped[0] == Dropped(filler, 0, 1.0, "exact")
    sims = {d.item: d for d in dropped[1:]}
    assert sims[base].kept_index == 1 and sims[one_edit].kept_index == 1
    assert kept[sims[base].kept_index] == two_edits


def test_examples_and_dicts_use_question_plus_answer_by_default():
    e1 = Example(instruction="头痛怎么办？", output="多休息。")
    e2 = Example(instruction="头痛怎么办?", output="多休息", source="b:2")
    e3 = Example(instruction="头痛怎么办？", output="先测血压。")      # same question, other answer: kept
    kept, dropped = dedupe([e1, e2, e3])
    assert kept == [e1, e3] and [d.item for d in dropped] == [e2]
    rows = [{"question": "腹泻怎么办", "answer": "补液"}, {"question": "腹泻怎么办？", "answer": "补液。"}]
    assert len(dedupe(rows)[0]) == 1
    # a custom key: question only
    assert dedupe([e1, e3], key=lambda e: e.instruction)[0] == [e1]


def test_empty_texts_are_exact_duplicates_of_each_other():
    kept, dropped = dedupe(["", "？？", "头痛"])
    assert kept == ["", "头痛"] and dropped == [Dropped("？？", 0, 1.0, "exact")]


def test_bad_threshold_rejected():
    with pytest.raises(ValueError):
        dedupe(["a"], threshold=0)
    with pytest.raises(ValueError):
        dedupe(["a"], threshold=1.5)


def test_explicit_banding_gives_the_same_verified_result():
    texts = _corpus(300, seed=8)
    default = dedupe(texts)
    assert dedupe(texts, bands=32)[0] == default[0]        # 2 rows: more candidates, same verification
    assert dedupe(texts, bands=1, num_perm=8)[1][0].kind in ("exact", "near")
    with pytest.raises(ValueError):
        dedupe(texts, bands=0)
    with pytest.raises(ValueError):
        dedupe(texts, bands=65)


def test_choose_rows_for_the_defaults():
    assert choose_rows(64, 0.8) == 4          # 16 bands x 4 rows
    assert choose_rows(64, 0.5) < choose_rows(64, 0.9)


def _corpus(n: int, seed: int) -> list[str]:
    """Medical-looking sentences from shared fragments, with edited copies at several distances."""
    rng = random.Random(seed)
    fragments = ["考虑上呼吸道感染", "建议多喝水注意休息", "可以服用布洛芬", "如果持续高热及时就医", "饮食清淡",
                 "孩子发烧三天", "血压偏高需要复查", "胃部反酸烧心", "皮肤瘙痒起疹子", "睡前不要进食",
                 "检查血常规和C反应蛋白", "避免辛辣刺激食物", "疼痛明显时可冷敷", "必要时做胸部CT"]
    chars = [chr(c) for c in range(0x4E00, 0x4E00 + 2000)]
    out: list[str] = []
    for _ in range(n):
        if out and rng.random() < 0.3:
            text = list(rng.choice(out))
            for _ in range(rng.randint(1, 4)):
                text[rng.randrange(len(text))] = rng.choice(chars)
            out.append("".join(text))
        else:
            out.append("，".join(rng.sample(fragments, 4)) + "".join(rng.choice(chars) for _ in range(8)))
    return out


def test_lsh_finds_what_brute_force_finds():
    texts = _corpus(400, seed=3)
    kept, dropped = dedupe(texts)
    brute_kept: list[str] = []
    brute_sets: list[frozenset] = []
    for text in texts:
        sh = shingles(normalise(text))
        if not any(jaccard(sh, other) >= 0.8 for other in brute_sets):
            brute_kept.append(text)
            brute_sets.append(sh)
    assert 20 <= len(dropped) <= 100        # the corpus really has near duplicates, many near 0.8
    assert kept == brute_kept


def test_deterministic_across_calls_and_seeds_only_affect_candidates():
    texts = _corpus(300, seed=5)
    first = dedupe(texts)
    assert dedupe(texts) == first
    assert dedupe(texts, seed=123)[0] == first[0]   # verification is exact, so the seed changes nothing here


def test_leakage_exact_near_and_clean():
    train = ["头痛怎么办？", "最近一个月经常饭后反酸、烧心，躺下时更明显，需要做胃镜吗？", "头痛怎么办",
             "孩子3岁，昨晚开始发烧，最高39.2℃，退烧后精神还可以，能吃能玩，要不要马上去医院？"]
    evals = ["腰痛两周了怎么办？",                                              # not in train
             "头痛，怎么办!",                                                   # exact after normalisation
             "最近一个月经常饭后反酸、烧心，躺下时更加明显，需要做胃镜吗？"]          # near
    found = leakage(train, evals)
    assert [(e, t) for e, t, _ in found] == [(1, 0), (2, 1)]
    assert found[0][2] == 1.0 and 0.8 <= found[1][2] < 1.0
    assert leakage(train, evals, threshold=0.99) == [(1, 0, 1.0)]
    assert leakage([], evals) == []


def test_speed_10k_is_well_under_budget():
    texts = _corpus(10_000, seed=11)
    start = time.perf_counter()
    kept, dropped = dedupe(texts)
    elapsed = time.perf_counter() - start
    assert len(kept) + len(dropped) == 10_000
    assert elapsed < 20, f"10k items took {elapsed:.1f}s (measured ~1-2 s on an idle core)"


@pytest.mark.skipif(not os.environ.get("MEDKIT_BENCH"), reason="benchmark; set MEDKIT_BENCH=1")
def test_speed_100k():
    texts = _corpus(100_000, seed=13)
    start = time.perf_counter()
    kept, dropped = dedupe(texts)
    elapsed = time.perf_counter() - start
    print(f"\n100k items: {elapsed:.1f}s, kept {len(kept)}, dropped {len(dropped)}")
    assert elapsed < 30
