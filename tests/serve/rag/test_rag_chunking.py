"""Chunking rules on Chinese (and some English) text: sentence cuts, sizes, overlap, ids."""
from __future__ import annotations

import pytest

from serve.rag.chunking import chunk_document, chunk_spans, chunk_text, split_sentences

ZH = ("高血压是最常见的慢性病之一。长期血压升高会损害心、脑、肾等器官！患者需要坚持服药吗？"
      "需要；即使血压正常也不能自行停药。\n饮食上应限制食盐，多吃蔬菜水果。适量运动，戒烟限酒。") * 4


def test_sentences_end_at_chinese_punctuation_and_newlines_and_lose_nothing():
    parts = split_sentences("发热三天。咳嗽！要紧吗？不要紧；多喝水\n第二行")
    assert parts == ["发热三天。", "咳嗽！", "要紧吗？", "不要紧；", "多喝水\n", "第二行"]
    assert "".join(split_sentences(ZH)) == ZH


def test_english_full_stop_splits_but_decimals_do_not():
    assert split_sentences("Take 2.5 mg daily. Stop if dizzy! Ok") == ["Take 2.5 mg daily. ", "Stop if dizzy! ", "Ok"]


def test_chunks_respect_size_and_end_on_sentence_boundaries():
    size = 60
    chunks = chunk_text(ZH, size, 10)
    assert len(chunks) > 4
    assert all(len(c) <= size for c in chunks)
    # every chunk but the last ends with a sentence (no sentence here is longer than the size)
    assert all(c[-1] in "。！？；" or c.endswith(("酒", "果")) for c in chunks[:-1])


def test_neighbours_share_exactly_the_overlap():
    size, overlap = 60, 12
    spans = chunk_spans(ZH, size, overlap)
    for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
        assert a1 - b0 == overlap          # short sentences: the full overlap is carried
        assert ZH[b0:a1] == ZH[a0:a1][-overlap:]
    assert spans[0][0] == 0 and spans[-1][1] == len(ZH)


def test_zero_overlap_chunks_tile_the_text():
    spans = chunk_spans(ZH, 50, 0)
    assert "".join(ZH[a:b] for a, b in spans) == ZH


def test_overlong_sentence_is_hard_split_with_overlap():
    text = "短句。" + "甲" * 250 + "。尾句。"
    spans = chunk_spans(text, 100, 20)
    assert all(b - a <= 100 for a, b in spans)
    assert any(b - a == 100 for a, b in spans)     # windows of exactly `size` inside the long sentence
    covered = set()
    for a, b in spans:
        covered.update(range(a, b))
    assert covered == set(range(len(text)))         # nothing lost
    for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
        assert b0 < a1                               # each chunk carries some of the previous one


def test_carried_overlap_shrinks_so_a_long_next_sentence_still_fits_whole():
    text = "一二三四五。" + "长" * 55 + "。"
    spans = chunk_spans(text, 60, 20)
    assert [text[a:b] for a, b in spans] == ["一二三四五。", text[2:]]   # 56-char sentence: carry cut to 4


def test_ids_are_deterministic_and_carry_title_and_metadata():
    doc = {"id": "abc123", "title": "高血压", "text": ZH, "source": "f.jsonl:3", "metadata": {"dataset": "t"}}
    first = chunk_document(doc, 80, 20)
    again = chunk_document(dict(doc), 80, 20)
    assert [c.id for c in first] == [f"abc123-{n}" for n in range(len(first))]
    assert [(c.id, c.text) for c in first] == [(c.id, c.text) for c in again]
    assert {c.title for c in first} == {"高血压"}
    assert first[0].metadata == {"dataset": "t", "source": "f.jsonl:3"}


def test_blank_text_gives_no_chunks_and_bad_settings_are_refused():
    assert chunk_document({"id": "x", "title": "t", "text": " \n "}, 50, 10) == []
    with pytest.raises(ValueError):
        chunk_spans("abc", 10, 10)
